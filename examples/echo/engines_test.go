package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// echoEngines are the engines TestEcho runs the echo binary with, and how
// hard each is pushed.
var echoEngines = []struct {
	name    string
	larger  []int // frame sizes beyond 1 MiB also echoed
	garbage int   // connections that send garbage and close
	fdCheck bool  // check the garbage connections' descriptors are released
}{
	{name: "netstd", garbage: 20},
	// r[verify transport.gnet]
	{name: "gnet", larger: []int{5 << 20}, garbage: 50, fdCheck: true},
	// r[verify transport.netpoll]
	{name: "netpoll", larger: []int{5 << 20}, garbage: 50, fdCheck: true},
}

// The echo tool on each engine compiled in, against hand-written frames
// and hostile input: every size, a frame a byte at a time, 10,000 frames
// in one write, a 4 GiB header (that connection closes at once), a peer
// stalled mid-frame (the others are not delayed), garbage (no crash, and
// where checked no leaked connection), then SIGTERM.
//
// r[verify tools.echo] r[verify wire.max] r[verify wire.frame]
func TestEcho(t *testing.T) {
	for _, e := range echoEngines {
		t.Run(e.name, func(t *testing.T) {
			if _, ok := engines[e.name]; !ok {
				t.Skipf("engine %s is not compiled in on this platform", e.name)
			}
			s := start(t, "-engine", e.name, "-addr", "127.0.0.1:0")
			a := s.dial(t)

			// Single frames of assorted sizes, including empty and 1 MiB.
			for i, n := range append([]int{0, 1, 4, 100, 4096, 70000, 1 << 20}, e.larger...) {
				p := fill(n, byte(i))
				go a.Write(frame(p))
				expectEcho(t, a, p)
			}
			// One frame written a byte at a time.
			p := fill(300, 7)
			go func() {
				for _, b := range frame(p) {
					a.Write([]byte{b})
				}
			}()
			expectEcho(t, a, p)
			// 10,000 frames in one write.
			var batch []byte
			for i := range 10000 {
				batch = append(batch, frame(fill(i%50, byte(i)))...)
			}
			go a.Write(batch)
			for i := range 10000 {
				expectEcho(t, a, fill(i%50, byte(i)))
			}

			// A 4 GiB header closes that connection at once, without a
			// reply; the other connection keeps echoing.
			base := fds(t, s.cmd.Process.Pid)
			b := s.dial(t)
			if _, err := b.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
				t.Fatal(err)
			}
			if _, err := readFrame(b); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("oversize connection not closed: %v", err)
			}
			// A peer stalled mid-frame does not delay the others.
			stalled := s.dial(t)
			if _, err := stalled.Write([]byte{10, 0, 0, 0, 'h', 'a'}); err != nil {
				t.Fatal(err)
			}
			// Garbage that happens to be valid frames is echoed; more
			// connections with garbage are closed or echoed, never crash it.
			for i := range e.garbage {
				g := s.dial(t)
				g.Write(fill(1+i*7, byte(i)))
				g.Close()
			}
			p = []byte("still echoing")
			go a.Write(frame(p))
			expectEcho(t, a, p)
			if e.fdCheck {
				// Every garbage connection's descriptor is released: the
				// server holds a and the stalled connection only (round
				// trips on a give it time; the loop is bounded).
				n := 0
				for i := range 2000 {
					if n = fds(t, s.cmd.Process.Pid); n <= base+1 {
						break
					}
					p := fill(i%500, byte(i))
					go a.Write(frame(p))
					expectEcho(t, a, p)
				}
				if n > base+1 {
					t.Fatalf("server holds %d descriptors, want at most %d: garbage connections leaked", n, base+1)
				}
			}

			// SIGTERM stops it cleanly: exit status 0.
			s.stop(t, syscall.SIGTERM)
			if _, err := readFrame(a); err == nil {
				t.Fatal("connection open after exit")
			}
		})
	}
}

// fds counts the open descriptors of process pid (0 where /proc is
// missing: the leak check is then skipped).
func fds(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}
