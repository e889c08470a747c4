//go:build linux || darwin

package main

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// The echo tool on the netpoll engine, against hand-written frames and
// hostile input: every size, a frame a byte at a time, 10,000 frames in
// one write, a 4 GiB header (that connection closes at once), a peer
// stalled mid-frame (the others are not delayed), garbage (no crash, no
// leaked connection), then SIGTERM.
// r[verify tools.echo] r[verify transport.netpoll] r[verify wire.max]
func TestEchoNetpoll(t *testing.T) {
	s := start(t, "-engine", "netpoll", "-addr", "127.0.0.1:0")
	a := s.dial(t)
	for i, n := range []int{0, 1, 4, 100, 4096, 70000, 1 << 20, 5 << 20} {
		p := fill(n, byte(i))
		go a.Write(frame(p))
		expectEcho(t, a, p)
	}
	p := fill(300, 7)
	go func() {
		for _, b := range frame(p) {
			a.Write([]byte{b})
		}
	}()
	expectEcho(t, a, p)
	var batch []byte
	for i := range 10000 {
		batch = append(batch, frame(fill(i%50, byte(i)))...)
	}
	go a.Write(batch)
	for i := range 10000 {
		expectEcho(t, a, fill(i%50, byte(i)))
	}

	base := fds(t, s.cmd.Process.Pid)
	b := s.dial(t)
	if _, err := b.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(b); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("oversize connection not closed: %v", err)
	}
	stalled := s.dial(t)
	if _, err := stalled.Write([]byte{10, 0, 0, 0, 'h', 'a'}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		g := s.dial(t)
		g.Write(fill(1+i*7, byte(i)))
		g.Close()
	}
	// Every garbage connection's descriptor is released: the server
	// holds a and the stalled connection only (round trips on a give it
	// time; the loop is bounded).
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

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	s.done <- nil
	if _, err := readFrame(a); err == nil {
		t.Fatal("connection open after exit")
	}
}
