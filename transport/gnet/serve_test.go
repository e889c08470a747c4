//go:build unix

package gnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// serve starts h with o on 127.0.0.1:0 and shuts it down at cleanup.
func serve(t *testing.T, h framelink.Handler, o framelink.Options) framelink.Server {
	t.Helper()
	s, err := Serve("tcp", "127.0.0.1:0", h, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// rawDial connects a plain TCP socket, closed at cleanup, whose I/O is
// bounded by a hang detector.
func rawDial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// frame encodes p by hand: [u32 LE length][payload], independently of
// package codec.
func frame(p []byte) []byte {
	b := make([]byte, 4+len(p))
	binary.LittleEndian.PutUint32(b, uint32(len(p)))
	copy(b[4:], p)
	return b
}

// readFrame decodes one frame by hand.
func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.LittleEndian.Uint32(h[:]))
	_, err := io.ReadFull(r, p)
	return p, err
}

// closeRecorder is an echo handler that records OnClose errors.
type closeRecorder struct {
	framelink.EchoHandler
	opened atomic.Int32
	errs   chan error
}

func newCloseRecorder() *closeRecorder { return &closeRecorder{errs: make(chan error, 64)} }

func (h *closeRecorder) OnOpen(framelink.Conn) { h.opened.Add(1) }
func (h *closeRecorder) OnClose(_ framelink.Conn, err error) {
	h.errs <- err
}

func (h *closeRecorder) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.errs:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("no OnClose")
		return nil
	}
}

// r[verify serve.handler] r[verify wire.frame] r[verify wire.empty] r[verify transport.gnet]
func TestServeEcho(t *testing.T) {
	s := serve(t, framelink.EchoHandler{}, framelink.Options{Multicore: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := rawDial(t, s.Addr())
			// Many frames in one write, split at every size, and
			// frames far larger than gnet's 64 KiB read buffer.
			var all []byte
			var want [][]byte
			for i := range 200 {
				n := (i * 997 * (g + 1)) % 3000
				if i%50 == 49 {
					n = 300_000 + i
				}
				p := bytes.Repeat([]byte{byte(i + g)}, n)
				want = append(want, p)
				all = append(all, frame(p)...)
			}
			go func() {
				for len(all) > 0 {
					k := min(len(all), 1+len(all)%7919)
					if _, err := c.Write(all[:k]); err != nil {
						return
					}
					all = all[k:]
				}
			}()
			for i, w := range want {
				p, err := readFrame(c)
				if err != nil {
					t.Errorf("conn %d frame %d: %v", g, i, err)
					return
				}
				if !bytes.Equal(p, w) {
					t.Errorf("conn %d frame %d: %d bytes, want %d", g, i, len(p), len(w))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// r[verify wire.max] r[verify serve.handler]
func TestServeOversizeClosesAtOnce(t *testing.T) {
	h := newCloseRecorder()
	s := serve(t, h, framelink.Options{})
	c := rawDial(t, s.Addr())
	// A header declaring 4 GiB - 1: closed at once, nothing buffered.
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	err := h.next(t)
	var tl *framelink.FrameTooLargeError
	if !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tl) || tl.Size != 0xffffffff {
		t.Fatalf("OnClose: %v, want ErrFrameTooLarge declaring 4294967295 bytes", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after an oversize header")
	}
}

// r[verify wire.truncated] r[verify wire.eof]
func TestServeCloseErrors(t *testing.T) {
	h := newCloseRecorder()
	s := serve(t, h, framelink.Options{})

	c := rawDial(t, s.Addr())
	c.Write(frame([]byte("whole")))
	if p, err := readFrame(c); err != nil || string(p) != "whole" {
		t.Fatal(p, err)
	}
	c.Close()
	if err := h.next(t); err != nil {
		t.Fatalf("clean end of stream: OnClose(%v), want nil", err)
	}

	c = rawDial(t, s.Addr())
	c.Write(frame([]byte("whole"))[:7])
	c.Close()
	if err := h.next(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: OnClose(%v), want io.ErrUnexpectedEOF", err)
	}
}

// A peer stalled in the middle of a frame does not delay the others, and
// garbage (random headers) neither crashes the server nor leaks
// connections.
// r[verify serve.handler] r[verify wire.max]
func TestServeHostile(t *testing.T) {
	h := newCloseRecorder()
	s := serve(t, h, framelink.Options{MaxFrame: 1 << 20, Multicore: true})
	stalled := rawDial(t, s.Addr())
	stalled.Write(frame(make([]byte, 100_000))[:50_000]) // and never more
	for i := range 50 {
		c := rawDial(t, s.Addr())
		garbage := make([]byte, 4096)
		for j := range garbage {
			garbage[j] = byte(j*31 + i*17 + 0x80)
		}
		c.Write(garbage)
		c.Close()
	}
	// Every garbage connection is closed by the server or ends with its
	// peer; none is left open.
	for range 50 {
		h.next(t)
	}
	ok := rawDial(t, s.Addr())
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, i)
		ok.Write(frame(p))
		if got, err := readFrame(ok); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("frame %d beside a stalled peer: %v", i, err)
		}
	}
	if n := s.(*server).e.liveConns(); n != 2 {
		t.Fatalf("%d connections registered, want 2 (the stalled one and the good one)", n)
	}
}

// r[verify serve.timeouts]
func TestServeTimeouts(t *testing.T) {
	h := newCloseRecorder()
	s := serve(t, h, framelink.Options{FrameTimeout: 50 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	// Frame timeout: a frame started and never finished.
	c := rawDial(t, s.Addr())
	c.Write(frame(make([]byte, 10))[:6])
	if err := h.next(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("frame timeout: OnClose(%v), want os.ErrDeadlineExceeded", err)
	}
	// Idle timeout: one frame, then nothing.
	c = rawDial(t, s.Addr())
	c.Write(frame([]byte("x")))
	readFrame(c)
	if err := h.next(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle timeout: OnClose(%v), want os.ErrDeadlineExceeded", err)
	}
	if _, err := readFrame(c); err == nil {
		t.Fatal("connection open after its idle timeout")
	}
}

// r[verify serve.shutdown]
func TestServeShutdownFlushes(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 1<<20)
	sent := make(chan struct{})
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		for range 8 {
			c.Send(big)
		}
		close(sent)
	}}
	s, err := Serve("tcp", "127.0.0.1:0", h, framelink.Options{HighWater: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := rawDial(t, s.Addr())
	c.Write(frame([]byte("go")))
	<-sent
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(testCtx(t)) }()
	for i := range 8 {
		p, err := readFrame(c)
		if err != nil || !bytes.Equal(p, big) {
			t.Fatalf("reply %d during Shutdown: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err == nil {
		t.Fatal("connection open after Shutdown")
	}
}
