//go:build unix

package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/framelink/framelink"
)

// Kinds of echo server compared on each engine.
const (
	kindFramelink = "framelink" // the engine behind framelink's Serve with framelink.BatchEchoHandler
	kindBaseline  = "baseline"  // the same engine, hand-written echo, no framework

	// kindControl is the baseline again, in runs of its own, alternating
	// with the baseline as framelink does: its ratios to the baseline are
	// what parity measures as on this machine, the noise floor of the
	// framelink/bare ratios (opt-in: -kinds framelink,baseline,control).
	kindControl = "control"
)

// engineOrder is the order engines appear in tables and charts.
var engineOrder = []string{"netstd", "netpoll", "gnet"}

// startFunc starts an echo server of the wire format ([u32 LE length]
// [payload], every frame sent back unchanged) listening on addr, in this
// process. Both the hand-written baselines and the framelink engines
// return a framelink.Server, so the harness treats them alike.
type startFunc func(addr string) (framelink.Server, error)

// servers maps "engine/kind" to its start function. Baselines register
// from baseline_*.go, framelink engines from framelink_*.go.
var servers = map[string]startFunc{}

// register adds a server kind; it is called from init functions.
func register(engine, kind string, f startFunc) {
	servers[engine+"/"+kind] = f
}

// bareStart adapts the start function of an internal/bareecho server to
// a startFunc listening on TCP (an error gives a nil Server, not a nil
// *S inside the interface).
func bareStart[S framelink.Server](start func(network, addr string) (S, error)) startFunc {
	return func(addr string) (framelink.Server, error) {
		s, err := start("tcp", addr)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// lookupServer returns the start function for engine/kind; the control
// kind is the baseline's.
func lookupServer(engine, kind string) (startFunc, bool) {
	if kind == kindControl {
		kind = kindBaseline
	}
	f, ok := servers[engine+"/"+kind]
	return f, ok
}

// registered reports whether engine/kind can be run.
func registered(engine, kind string) bool {
	_, ok := lookupServer(engine, kind)
	return ok
}

// registeredList describes what is compiled in, for messages.
func registeredList() string {
	keys := make([]string, 0, len(servers))
	for k := range servers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// flOptions are the framelink Options every framelink engine runs with:
// defaults, plus one event loop per CPU on event-loop engines (the
// baselines do the same).
var flOptions = framelink.Options{Multicore: true}

// parseServerName splits "engine/kind".
func parseServerName(s string) (engine, kind string, err error) {
	engine, kind, ok := strings.Cut(s, "/")
	if !ok || engine == "" || kind == "" {
		return "", "", fmt.Errorf("bad server name %q, want engine/kind", s)
	}
	return engine, kind, nil
}
