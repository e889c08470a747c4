//go:build unix

package main

import (
	"context"
	"fmt"
	"time"
)

// largeReserve is how many descriptors below RLIMIT_NOFILE the large mode
// leaves free in each process for the runtime (epoll, pipes), the
// listener and the control pipes.
const largeReserve = 100

// largeResult is one large-mode run (r[perf.scale]).
type largeResult struct {
	Engine          string  `json:"engine"`
	Kind            string  `json:"kind"`
	ServerNoFile    uint64  `json:"server_nofile"` // soft limit, raised to hard
	ClientNoFile    uint64  `json:"client_nofile"`
	Target          int     `json:"target"`
	Connected       int     `json:"connected"`         // connections the load generator opened
	ServerFDs       int     `json:"server_fds"`        // descriptors open in the server with all connected
	Echoed          int     `json:"echoed"`            // connections whose echo was verified
	StoppedBy       string  `json:"stopped_by"`        // the limit that stopped the ramp
	DialSeconds     float64 `json:"dial_s"`            // time to open them all
	IdleRSSPerConn  float64 `json:"idle_rss_per_conn"` // bytes, after GC
	IdleHeapPerConn float64 `json:"idle_heap_stack_per_conn"`
	LoadFrames      uint64  `json:"load_frames"` // verified echoes under load
	LoadFramesPerS  float64 `json:"load_frames_per_s"`
	LoadP99us       float64 `json:"load_p99_us"`
	PeakRSS         int64   `json:"server_peak_rss"`
	PeakRSSPerConn  float64 `json:"peak_rss_per_conn"`
	MillionIdleGiB  float64 `json:"million_idle_gib"` // idle RSS per conn × 1e6
	runErrors
}

// largeParams configure large mode.
type largeParams struct {
	Conns    int // 0: as many as the file limits allow
	Duration time.Duration
	Size     int
	// onEchoed, if set, is called with the load generator once every
	// connection is open and its echo checked, before the load phase, on
	// runLarge's goroutine (tests look at the connections; nil in the
	// bench).
	onEchoed func(*loadGen)
}

// runLarge opens as many connections as the file limits allow (or
// lp.Conns), verifies an echo on every one, measures idle memory per
// connection, then loads them all (one frame in flight each) for
// lp.Duration with every echo verified.
//
// r[impl perf.scale]
func runLarge(engine, kind string, lp largeParams, clientNoFile uint64, logf func(string, ...any)) (res largeResult) {
	res = largeResult{Engine: engine, Kind: kind, ClientNoFile: clientNoFile}
	bad := func(err error) largeResult {
		res.add(err)
		return res
	}
	p, s0, ok := startBaseServer(engine, kind, &res.runErrors)
	if !ok {
		return res
	}
	defer p.stopInto(&res.runErrors)
	res.ServerNoFile = s0.NoFileSoft
	srvMax := int(s0.NoFileSoft) - largeReserve
	cliMax := int(clientNoFile) - largeReserve
	target := min(srvMax, cliMax)
	switch {
	case lp.Conns > 0:
		target = lp.Conns
		res.StoppedBy = fmt.Sprintf("the -large-conns target (%d)", lp.Conns)
	case srvMax < cliMax:
		res.StoppedBy = fmt.Sprintf("the server's RLIMIT_NOFILE (%d, minus %d descriptors kept for the runtime, listener and pipes)", s0.NoFileSoft, largeReserve)
	case cliMax < srvMax:
		res.StoppedBy = fmt.Sprintf("the load generator's RLIMIT_NOFILE (%d, minus %d reserved)", clientNoFile, largeReserve)
	default:
		res.StoppedBy = fmt.Sprintf("RLIMIT_NOFILE %d in both the server and the load generator (each process's own limit, minus %d descriptors kept for the runtime, listener and pipes)", s0.NoFileSoft, largeReserve)
	}
	res.Target = target
	logf("large %s/%s: opening %d connections from spread 127.x.y.1 source addresses (limit: %s)", engine, kind, target, res.StoppedBy)

	lg := newLoadGen(loadConfig{Addr: p.addr, Conns: target, Size: lp.Size, Inflight: 1,
		SpreadSources: true, DrainTimeout: 10 * time.Second})
	defer lg.close()
	t0 := time.Now()
	derr := lg.dial(target, 64)
	res.DialSeconds = time.Since(t0).Seconds()
	res.Connected = len(lg.conns)
	if derr != nil {
		why := dialLimitReason(derr)
		if why == "" {
			why = "a connect error"
		}
		res.StoppedBy = fmt.Sprintf("%s after %d connections: %v", why, res.Connected, derr)
		logf("large %s/%s: stopped early by %s", engine, kind, res.StoppedBy)
	}
	if res.Connected == 0 {
		return bad(derr)
	}
	logf("large %s/%s: %d connected in %.1fs; verifying one echo on each", engine, kind, res.Connected, res.DialSeconds)
	res.Echoed = lg.echoOnce(context.Background(), 256, 15*time.Second)
	if lp.onEchoed != nil {
		lp.onEchoed(lg)
	}
	s1, err := p.stats(true)
	if err != nil {
		return bad(err)
	}
	res.ServerFDs = s1.FDs
	if res.Echoed < res.Connected {
		res.StoppedBy = fmt.Sprintf("the server: only %d of %d connections served (server has %d descriptors open, its RLIMIT_NOFILE is %d)",
			res.Echoed, res.Connected, s1.FDs, s1.NoFileSoft)
	}
	n := float64(res.Connected)
	res.IdleRSSPerConn = float64(s1.RSS-s0.RSS) / n
	res.IdleHeapPerConn = (float64(s1.HeapInuse+s1.StackInuse) - float64(s0.HeapInuse+s0.StackInuse)) / n
	res.MillionIdleGiB = res.IdleRSSPerConn * 1e6 / (1 << 30)
	logf("large %s/%s: %d/%d echoed; idle %.0f B RSS/conn; loading all for %v", engine, kind, res.Echoed, res.Connected, res.IdleRSSPerConn, lp.Duration)

	if res.Echoed == res.Connected {
		lg.start()
		time.Sleep(500 * time.Millisecond)
		lg.setPhase(phaseMeasure)
		t1 := time.Now()
		time.Sleep(lp.Duration)
		lg.setPhase(phaseStop)
		el := time.Since(t1).Seconds()
		s2, err := p.stats(false)
		tot := lg.finish()
		if err != nil {
			return bad(err)
		}
		res.LoadFrames = tot.Frames
		res.LoadFramesPerS = float64(tot.Frames) / el
		res.LoadP99us = float64(tot.Hist.ValueAtQuantile(99)) / 1e3
		res.PeakRSS = s2.PeakRSS
		res.PeakRSSPerConn = float64(s2.PeakRSS-s0.RSS) / n
	}
	res.merge(lg.errs.snapshot())
	return res
}
