//go:build !windows

// Package bareecho holds the hand-written echo servers that framelink's
// engines are measured against: the same echo written directly on the
// underlying library, with no framework. The bench harness and the
// engines' side-by-side benchmarks share them, so both compare with the
// same code.
package bareecho

import (
	"context"
	"encoding/binary"
	"errors"
	"net"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// Netpoll is a hand-written echo server on cloudwego/netpoll. It serves
// with one EventLoop and netpoll's defaults (no process-wide
// netpoll.Configure). Its OnRequest consumes every complete frame buffered
// (Peek the header, Next the frame), copies each into the connection's
// Writer (Malloc), then Releases the input and Flushes once. When only part
// of a frame is buffered it flushes what it has and blocks in Next for the
// rest, as netpoll requires OnRequest to consume its input.
//
// Its methods may be called from any goroutine.
type Netpoll struct {
	ln   netpoll.Listener
	evl  netpoll.EventLoop
	done chan struct{}
}

// StartNetpoll listens on network and addr and serves the echo on a
// goroutine of its own until Shutdown.
func StartNetpoll(network, addr string) (*Netpoll, error) {
	ln, err := netpoll.CreateListener(network, addr)
	if err != nil {
		return nil, err
	}
	evl, err := netpoll.NewEventLoop(netpollOnRequest)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Netpoll{ln: ln, evl: evl, done: make(chan struct{})}
	go func() { defer close(s.done); _ = evl.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Netpoll) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the event loop (netpoll's EventLoop.Shutdown).
func (s *Netpoll) Shutdown(ctx context.Context) error {
	return s.evl.Shutdown(ctx)
}

// Done is closed once the serving goroutine has returned (after Shutdown).
func (s *Netpoll) Done() <-chan struct{} { return s.done }

func netpollOnRequest(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	for r.Len() > 0 {
		if !netpollFrameBuffered(r) && w.MallocLen() > 0 {
			// Partial frame: send the echoes we have before waiting.
			r.Release()
			if err := w.Flush(); err != nil {
				return err
			}
		}
		hdr, err := r.Peek(4)
		if err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(hdr)
		if n > framelink.DefaultMaxFrame {
			return errors.Join(errors.New("frame too large"), c.Close())
		}
		frame, err := r.Next(4 + int(n))
		if err != nil {
			return err
		}
		out, err := w.Malloc(len(frame))
		if err != nil {
			return err
		}
		copy(out, frame)
	}
	r.Release()
	if w.MallocLen() > 0 {
		return w.Flush()
	}
	return nil
}

// netpollFrameBuffered reports whether a complete frame is buffered.
func netpollFrameBuffered(r netpoll.Reader) bool {
	l := r.Len()
	if l < 4 {
		return false
	}
	hdr, err := r.Peek(4)
	if err != nil {
		return false
	}
	return l >= 4+int(binary.LittleEndian.Uint32(hdr))
}
