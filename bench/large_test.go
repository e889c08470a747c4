//go:build unix

package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scaleEngines are the engines r[perf.scale] names.
var scaleEngines = []string{"gnet", "netpoll"}

// TestLargeMode runs the large mode for real (server in its own process,
// spread source addresses, an echo verified on every connection, idle
// memory, then every connection loaded with each echo verified) at a small
// scale: the test process's own RLIMIT_NOFILE is lowered so that the
// file limit is a few dozen connections.
//
// r[verify perf.scale]
func TestLargeMode(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	if open := openFDs(t); open > 60 {
		t.Skipf("%d descriptors already open in the test process; the small limits below need fewer", open)
	}

	t.Run("raise", func(t *testing.T) {
		limitFiles(t, min(orig.Max, 256))
		soft, hard, err := raiseNoFile()
		if err != nil {
			t.Fatal(err)
		}
		var now syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
			t.Fatal(err)
		}
		if soft != orig.Max || hard != orig.Max || now.Cur != orig.Max || now.Max != orig.Max {
			t.Fatalf("raiseNoFile reported %d/%d, limit now %d/%d; want the soft limit raised to the hard one, %d", soft, hard, now.Cur, now.Max, orig.Max)
		}
	})

	// The file limit sets the target: the load generator's soft limit
	// minus largeReserve, all connected, echoed and loaded.
	for _, engine := range scaleEngines {
		t.Run(engine+"/file-limit", func(t *testing.T) {
			if !registered(engine, kindFramelink) {
				t.Skipf("%s is not compiled in", engine)
			}
			const conns = 24
			limit := uint64(largeReserve + conns)
			limitFiles(t, limit)
			var srcs map[string]int
			var remotes map[string]int
			lp := largeParams{Duration: 300 * time.Millisecond, Size: 64, onEchoed: func(lg *loadGen) {
				srcs, remotes = map[string]int{}, map[string]int{}
				for _, cc := range lg.conns {
					srcs[cc.c.LocalAddr().(*net.TCPAddr).IP.String()]++
					remotes[cc.c.RemoteAddr().String()]++
				}
			}}
			res := runLarge(engine, kindFramelink, lp, limit, t.Logf)
			if res.ErrorCount != 0 {
				t.Fatalf("%d errors: %q", res.ErrorCount, res.Errors)
			}
			if res.Target != conns || res.Connected != conns || res.Echoed != conns {
				t.Fatalf("target %d, connected %d, echoed %d; want %d each (RLIMIT_NOFILE %d minus %d reserved)",
					res.Target, res.Connected, res.Echoed, conns, limit, largeReserve)
			}
			if want := fmt.Sprintf("the load generator's RLIMIT_NOFILE (%d", limit); !strings.Contains(res.StoppedBy, want) {
				t.Fatalf("stopped by %q, want it to name %q", res.StoppedBy, want)
			}
			// The server raised its own soft limit to the hard one.
			if res.ServerNoFile != orig.Max || res.ClientNoFile != limit {
				t.Fatalf("reported RLIMIT_NOFILE: server %d (want %d, its hard limit), load generator %d (want %d)",
					res.ServerNoFile, orig.Max, res.ClientNoFile, limit)
			}
			if res.ServerFDs < conns {
				t.Fatalf("server has %d descriptors open with %d connections", res.ServerFDs, conns)
			}
			// Each connection has its own source address in 127.0.0.0/8
			// (the kernel's view: the bound address getsockname reports),
			// all to the one server address.
			if len(srcs) != conns || len(remotes) != 1 {
				t.Fatalf("%d connections from %d source addresses to %d server addresses: %v → %v", conns, len(srcs), len(remotes), srcs, remotes)
			}
			_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
			for s := range srcs {
				if ip := net.ParseIP(s); !loopback.Contains(ip) || ip.Equal(net.IPv4(127, 0, 0, 1)) {
					t.Fatalf("source address %s: want a spread address in 127.0.0.0/8 other than 127.0.0.1", s)
				}
			}
			// Every connection was loaded and every echo verified (an
			// unverified, missing or extra echo is an error above).
			if res.LoadFrames < conns || res.LoadFramesPerS <= 0 {
				t.Fatalf("load phase verified %d echoes (%.0f/s) on %d connections", res.LoadFrames, res.LoadFramesPerS, conns)
			}
			// Memory per connection is reported, and the million-connection
			// extrapolation follows from the idle figure.
			for name, v := range map[string]float64{"idle RSS": res.IdleRSSPerConn, "idle heap+stacks": res.IdleHeapPerConn, "peak RSS": res.PeakRSSPerConn} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s per connection = %v", name, v)
				}
			}
			if res.PeakRSS <= 0 || res.MillionIdleGiB != res.IdleRSSPerConn*1e6/(1<<30) {
				t.Fatalf("peak RSS %d, 1M idle %.3f GiB from %.0f B/conn", res.PeakRSS, res.MillionIdleGiB, res.IdleRSSPerConn)
			}
			var out bytes.Buffer
			(&report{Large: []largeResult{res}}).printLarge(&out)
			for _, want := range []string{
				"stopped by " + res.StoppedBy,
				fmt.Sprintf("load generator RLIMIT_NOFILE %d, server %d.", limit, orig.Max),
				fmtBytes(res.IdleRSSPerConn), fmtBytes(res.IdleHeapPerConn),
				fmt.Sprintf("%.2f GiB", res.MillionIdleGiB),
			} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}

	// A connection cap hit while dialling (here the load generator's own
	// RLIMIT_NOFILE, a few dozen above what is open, with 200 connections
	// asked for) stops the ramp; the stop message names the limit, and the
	// connections opened are still all echoed and loaded.
	t.Run("cap-hit", func(t *testing.T) {
		engine := ""
		for _, e := range append(scaleEngines, "netstd") {
			if registered(e, kindFramelink) {
				engine = e
				break
			}
		}
		if engine == "" {
			t.Skip("no framelink engine compiled in")
		}
		const asked = 200
		limitFiles(t, uint64(openFDs(t)+30))
		res := runLarge(engine, kindFramelink, largeParams{Conns: asked, Duration: 300 * time.Millisecond, Size: 64}, orig.Max, t.Logf)
		if res.ErrorCount != 0 {
			t.Fatalf("%d errors: %q", res.ErrorCount, res.Errors)
		}
		if res.Target != asked || res.Connected == 0 || res.Connected >= asked {
			t.Fatalf("target %d, connected %d: want the cap hit between 0 and %d", res.Target, res.Connected, asked)
		}
		if want := fmt.Sprintf("the load generator's RLIMIT_NOFILE (EMFILE) after %d connections", res.Connected); !strings.HasPrefix(res.StoppedBy, want) {
			t.Fatalf("stopped by %q, want it to start %q", res.StoppedBy, want)
		}
		if res.Echoed != res.Connected || res.LoadFrames < uint64(res.Connected) {
			t.Fatalf("%d connected, %d echoed, %d echoes verified under load", res.Connected, res.Echoed, res.LoadFrames)
		}
	})
}

// limitFiles sets this process's soft RLIMIT_NOFILE to n until the test
// ends (the cleanup puts the previous soft limit back; the hard limit is
// not touched). Processes started meanwhile inherit it; the bench's server
// process raises its own.
func limitFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	prev := rl.Cur
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rl.Cur = prev
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Error(err)
		}
	})
}

// openFDs counts this process's open descriptors (skipping the test where
// /proc is missing).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents) - 1 // the directory ReadDir had open
}
