//go:build unix

package gnet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// connGrabber is an echo handler that hands out the server side of each
// connection.
type connGrabber struct {
	framelink.EchoHandler
	conns  chan *conn
	closed chan error
}

func (h *connGrabber) OnOpen(c framelink.Conn)             { h.conns <- c.(*conn) }
func (h *connGrabber) OnClose(_ framelink.Conn, err error) { h.closed <- err }

const (
	bpHigh  = 64 << 10
	bpLow   = 16 << 10
	bpFrame = 4 << 10
)

// nonReadingPeer dials s with small socket buffers and writes n echo
// requests of bpFrame bytes without reading. blocked is closed when a
// write stays blocked for a while (the server stopped reading and TCP
// pushed back); the writer then carries on without a deadline. The
// returned channel yields the writer's end.
func nonReadingPeer(t *testing.T, s framelink.Server, n int) (net.Conn, <-chan struct{}, <-chan error) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A small send buffer makes the pushback show sooner. (A receive
	// buffer far below the loopback MSS would stall TCP itself: Linux
	// then delays window updates to zero-window probes.)
	c.(*net.TCPConn).SetWriteBuffer(4 << 10)
	blocked := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		isBlocked := false
		for i := range n {
			b := frame(bytes.Repeat([]byte{byte(i)}, bpFrame))
			for len(b) > 0 {
				if !isBlocked {
					c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				}
				k, err := c.Write(b)
				b = b[k:]
				if errors.Is(err, os.ErrDeadlineExceeded) && !isBlocked {
					isBlocked = true
					close(blocked)
					c.SetWriteDeadline(time.Time{})
					continue
				}
				if err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	return c, blocked, done
}

// With a peer that sends but does not read, the server stops reading it
// once its output passes the high-water mark: the output held stays
// within high water plus one frame, the held input stays bounded, the
// peer's writes block (TCP pushes back) instead of the connection being
// dropped, and everything is echoed in order once the peer reads.
// r[verify serve.reply] r[verify link.tx.backpressure]
func TestServeNonReadingPeerPaused(t *testing.T) {
	if !canPause {
		t.Skip("read events cannot be switched off here; TestServeNonReadingPeerOverflow covers the fallback")
	}
	h := &connGrabber{conns: make(chan *conn, 1), closed: make(chan error, 1)}
	s := serve(t, h, framelink.Options{HighWater: bpHigh, LowWater: bpLow})
	const n = 8192 // 32 MiB, far more than every socket buffer on the way
	c, blocked, done := nonReadingPeer(t, s, n)
	sc := <-h.conns
	select {
	case <-blocked:
	case err := <-done:
		t.Fatalf("the peer wrote all %d frames without blocking (err %v): the server never stopped reading", n, err)
	case err := <-h.closed:
		t.Fatalf("server closed the connection: %v", err)
	}
	if q, bound := sc.maxQueued.Load(), int64(bpHigh+4+bpFrame); q > bound {
		t.Errorf("output held reached %d bytes, above high water + one frame (%d)", q, bound)
	}
	if in, bound := sc.maxHeld.Load(), int64(bpHigh+inputSlack); in > bound {
		t.Errorf("input held while paused reached %d bytes, above %d", in, bound)
	}
	t.Logf("while paused: output held max %d B, input held max %d B", sc.maxQueued.Load(), sc.maxHeld.Load())
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for i := range n {
		p, err := readFrame(c)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if len(p) != bpFrame || p[0] != byte(i) || p[bpFrame-1] != byte(i) {
			t.Fatalf("reply %d corrupt", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q, bound := sc.maxQueued.Load(), int64(bpHigh+4+bpFrame); q > bound {
		t.Errorf("output held reached %d bytes, above high water + one frame (%d)", q, bound)
	}
}

// The fallback where read events cannot be switched off: the paused
// connection is no longer decoded, and once its held input passes its
// bound it is closed with ErrOverflow; memory stays bounded throughout.
// r[verify serve.reply]
func TestServeNonReadingPeerOverflow(t *testing.T) {
	h := &connGrabber{conns: make(chan *conn, 1), closed: make(chan error, 1)}
	s, err := Serve("tcp", "127.0.0.1:0", h, framelink.Options{HighWater: bpHigh, LowWater: bpLow})
	if err != nil {
		t.Fatal(err)
	}
	s.(*server).e.noPause.Store(true)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	_, _, done := nonReadingPeer(t, s, 8192)
	sc := <-h.conns
	err = <-h.closed
	if !errors.Is(err, ErrOverflow) || !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("OnClose(%v), want ErrOverflow", err)
	}
	if q, bound := sc.maxQueued.Load(), int64(bpHigh+4+bpFrame); q > bound {
		t.Errorf("output held reached %d bytes, above high water + one frame (%d)", q, bound)
	}
	if in, bound := sc.maxHeld.Load(), int64(bpHigh+inputSlack+readBufferCap); in > bound {
		t.Errorf("input held reached %d bytes, above %d", in, bound)
	}
	t.Logf("fallback: output held max %d B, input held max %d B before ErrOverflow", sc.maxQueued.Load(), sc.maxHeld.Load())
	<-done // the peer's writes fail once the server closed
}

// A handler whose replies pass the high-water mark is paused, and resumes
// the frames still buffered once the output drained under the low-water
// mark.
// r[verify serve.reply]
func TestServeResumeAfterDrain(t *testing.T) {
	big := bytes.Repeat([]byte("r"), 1<<20)
	type obs struct{ queued int64 }
	seen := make(chan obs, 2)
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		seen <- obs{c.Stats().QueuedBytes}
		c.Send(big)
	}}
	s := serve(t, h, framelink.Options{HighWater: bpHigh, LowWater: bpLow})
	c := rawDial(t, s.Addr())
	c.Write(append(frame([]byte("1")), frame([]byte("2"))...))
	if o := <-seen; o.queued != 0 {
		t.Fatalf("first frame saw %d bytes queued", o.queued)
	}
	for i := range 2 {
		p, err := readFrame(c)
		if err != nil || len(p) != len(big) {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if o := <-seen; o.queued >= bpLow {
		t.Fatalf("second frame decoded with %d bytes queued, want < low water %d (resumed too early)", o.queued, bpLow)
	}
}
