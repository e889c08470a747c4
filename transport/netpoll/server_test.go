package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/framelink/framelink"
)

// Echo over TCP and Unix sockets, checked by a client that decodes the
// wire format on its own: empty, small, node-straddling and large frames,
// many in one write.
// r[verify serve.handler] r[verify wire.frame] r[verify wire.empty] r[verify link.message] r[verify link.order]
func TestServeEcho(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			s := serve(t, network, framelink.EchoHandler{}, framelink.Options{})
			c := dialRaw(t, s)
			sizes := []int{0, 1, 64, 4093, 4096, 5000, 0, 1 << 20, 3, 64 << 10}
			for range 3 {
				if err := echoCheck(c, sizes, 9); err != nil {
					t.Fatal(err)
				}
			}
			many := make([]int, 2000)
			for i := range many {
				many[i] = i % 300
			}
			if err := echoCheck(c, many, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Frames written one byte at a time are delivered whole (OnRequest waits
// for the rest of a partial frame).
func TestServeByteAtATime(t *testing.T) {
	s := serve(t, "tcp", framelink.EchoHandler{}, framelink.Options{})
	c := dialRaw(t, s)
	want := payload(300, 3)
	var wire []byte
	for range 3 {
		wire = append(wire, frame(want)...)
	}
	go func() {
		for i := range wire {
			if _, err := c.Write(wire[i : i+1]); err != nil {
				return
			}
		}
	}()
	for i := range 3 {
		got, err := readFrame(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %v (%d bytes)", i, err, len(got))
		}
	}
}

// The handler sees OnOpen, frames, then OnClose(nil) on a clean close, and
// OnClose(io.ErrUnexpectedEOF) when the peer stops inside a frame.
// r[verify wire.truncated] r[verify wire.eof] r[verify link.errors]
func TestServeLifecycle(t *testing.T) {
	var frames atomic.Int64
	rec := newRecorder(func(c framelink.Conn, p []byte) { frames.Add(1); _ = c.Send(p) })
	s := serve(t, "tcp", rec, framelink.Options{})

	c := dialRaw(t, s)
	if err := echoCheck(c, []int{5, 6}, 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ev := rec.waitClose(t); ev.err != nil {
		t.Fatalf("clean close: OnClose(%v), want nil", ev.err)
	}
	if n := frames.Load(); n != 2 {
		t.Fatalf("%d frames delivered, want 2", n)
	}

	for _, cut := range []int{1, 3, 4, 7} {
		c := dialRaw(t, s)
		<-rec.opened
		if _, err := c.Write(frame(payload(10, 0))[:cut]); err != nil {
			t.Fatal(err)
		}
		c.Close()
		ev := rec.waitClose(t)
		if !errors.Is(ev.err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut after %d bytes: OnClose(%v), want io.ErrUnexpectedEOF", cut, ev.err)
		}
	}
}

// Conn.Alloc slots: Commit publishes, Discard publishes nothing, misuse is
// caught; Send from another goroutine after the callback works too.
// r[verify link.tx.discard] r[verify link.tx.misuse] r[verify serve.reply]
func TestServeSlotsAndPush(t *testing.T) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		d, err := c.Alloc(100)
		if err != nil {
			t.Error(err)
			return
		}
		copy(d.Bytes(), "discarded")
		if err := d.Discard(); err != nil {
			t.Error(err)
		}
		if err := d.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Errorf("Commit after Discard: %v, want ErrPermitUsed", err)
		}
		sl, err := c.Alloc(len(p))
		if err != nil {
			t.Error(err)
			return
		}
		copy(sl.Bytes(), p)
		if err := sl.Commit(); err != nil {
			t.Error(err)
		}
		if err := sl.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Errorf("second Commit: %v, want ErrPermitUsed", err)
		}
		q := bytes.Clone(p)
		wg.Add(1)
		go func() { // a push from outside the callback
			defer wg.Done()
			if err := c.Send(append(q, '!')); err != nil {
				t.Error(err)
			}
		}()
	}}
	s := serve(t, "tcp", h, framelink.Options{})
	c := dialRaw(t, s)
	if _, err := c.Write(frame([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello", "hello!"} {
		got, err := readFrame(c)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
}

// Conn.Close flushes what was committed, then the peer reads EOF and the
// handler gets OnClose(nil).
func TestServeConnCloseFlushes(t *testing.T) {
	big := payload(2<<20, 5)
	rec := newRecorder(func(c framelink.Conn, p []byte) {
		_ = c.Send(big)
		_ = c.Send(p)
		_ = c.Close()
		if err := c.Send(p); !errors.Is(err, framelink.ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
	})
	s := serve(t, "tcp", rec, framelink.Options{})
	c := dialRaw(t, s)
	if _, err := c.Write(append(frame([]byte("x")), frame([]byte("never delivered"))...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{big, []byte("x")} {
		got, err := readFrame(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
		}
	}
	if _, err := readFrame(c); err != io.EOF {
		t.Fatalf("after the flushed frames: %v, want io.EOF", err)
	}
	if ev := rec.waitClose(t); ev.err != nil {
		t.Fatalf("OnClose(%v) after Conn.Close, want nil", ev.err)
	}
}

// Shutdown lets committed output flush, closes every connection with
// OnClose, and refuses to serve new connections.
// r[verify serve.shutdown]
func TestServeShutdown(t *testing.T) {
	big := payload(4<<20, 1)
	var once sync.Once
	sent := make(chan struct{})
	rec := newRecorder(func(c framelink.Conn, p []byte) {
		_ = c.Send(big)
		once.Do(func() { close(sent) })
	})
	s, err := Serve("tcp", "127.0.0.1:0", rec, framelink.Options{HighWater: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s)
	idle := dialRaw(t, s)
	<-rec.opened
	<-rec.opened
	if _, err := c.Write(frame(nil)); err != nil {
		t.Fatal(err)
	}
	<-sent
	// The client has not read yet: most of the reply is still queued.
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(testCtx(t)) }()
	got, err := readFrame(c)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("reply during Shutdown: %d bytes, %v", len(got), err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, cc := range []net.Conn{c, idle} {
		if _, err := readFrame(cc); err != io.EOF {
			t.Fatalf("after Shutdown: %v, want io.EOF", err)
		}
	}
	for range 2 {
		if ev := rec.waitClose(t); ev.err != nil {
			t.Fatalf("OnClose(%v) at Shutdown, want nil", ev.err)
		}
	}
	if err := s.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// Shutdown with a context that ends closes connections whose peer does
// not read, and returns the context's error.
func TestServeShutdownExpired(t *testing.T) {
	big := payload(8<<20, 1)
	rec := newRecorder(func(c framelink.Conn, p []byte) { _ = c.Send(big) })
	s, err := Serve("tcp", "127.0.0.1:0", rec, framelink.Options{HighWater: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s)
	if _, err := c.Write(frame(nil)); err != nil {
		t.Fatal(err)
	}
	<-rec.opened
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a cancelled context: %v, want context.Canceled", err)
	}
	rec.waitClose(t)
	if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open after Shutdown")
	}
}
