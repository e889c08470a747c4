//go:build unix

package main

import (
	"context"
	"fmt"
	"time"
)

// idleResult is the server memory that N idle connections cost, each
// after one verified echo (so buffers a frame needed have been used and,
// on engines that pool them, given back). Both figures come from the
// server process after a GC and FreeOSMemory: RSS (what the OS charges)
// and Go heap-in-use plus goroutine stacks (what the runtime holds).
type idleResult struct {
	Engine         string  `json:"engine"`
	Kind           string  `json:"kind"`
	Conns          int     `json:"conns"`
	RSSBefore      int64   `json:"rss_before"`
	RSSAfter       int64   `json:"rss_after"`
	RSSPerConn     float64 `json:"rss_per_conn"`        // bytes
	RuntimePerConn float64 `json:"heap_stack_per_conn"` // bytes
	runErrors
}

// runIdle measures memory per idle connection for one server kind.
func runIdle(engine, kind string, n int) (res idleResult) {
	res = idleResult{Engine: engine, Kind: kind, Conns: n}
	bad := func(err error) idleResult {
		res.add(err)
		return res
	}
	p, s0, ok := startBaseServer(engine, kind, &res.runErrors)
	if !ok {
		return res
	}
	defer p.stopInto(&res.runErrors)
	lg := newLoadGen(loadConfig{Addr: p.addr, Conns: n, Size: 64, Inflight: 1, SpreadSources: n > 1000})
	defer lg.close()
	if err := lg.dial(n, 32); err != nil {
		return bad(err)
	}
	if echoed := lg.echoOnce(context.Background(), 32, 10*time.Second); echoed != n {
		res.merge(lg.errs.snapshot())
		return bad(fmt.Errorf("%d of %d idle connections echoed", echoed, n))
	}
	time.Sleep(100 * time.Millisecond) // let event loops settle
	s1, err := p.stats(true)
	if err != nil {
		return bad(err)
	}
	res.RSSBefore, res.RSSAfter = s0.RSS, s1.RSS
	res.RSSPerConn = float64(s1.RSS-s0.RSS) / float64(n)
	rt0 := float64(s0.HeapInuse + s0.StackInuse)
	rt1 := float64(s1.HeapInuse + s1.StackInuse)
	res.RuntimePerConn = (rt1 - rt0) / float64(n)
	return res
}
