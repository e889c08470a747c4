//go:build unix

package main

// BASELINE: a hand-written echo server on cloudwego/netpoll, with no
// framework. It is what framelink's netpoll engine is measured against.

import (
	"context"
	"encoding/binary"
	"errors"
	"net"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

func init() { register("netpoll", kindBaseline, startBaselineNetpoll) }

// baselineNetpoll serves with one EventLoop and netpoll's defaults (no
// process-wide netpoll.Configure). OnRequest consumes every complete frame
// buffered (Peek the header, Next the frame), copies each into the
// connection's Writer (Malloc), then Releases the input and Flushes once.
// When only part of a frame is buffered it flushes what it has and blocks
// in Next for the rest, as netpoll requires OnRequest to consume its input.
type baselineNetpoll struct {
	ln  netpoll.Listener
	evl netpoll.EventLoop
}

func startBaselineNetpoll(addr string) (framelink.Server, error) {
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return nil, err
	}
	evl, err := netpoll.NewEventLoop(baselineNetpollOnRequest)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go evl.Serve(ln)
	return &baselineNetpoll{ln: ln, evl: evl}, nil
}

func baselineNetpollOnRequest(_ context.Context, c netpoll.Connection) error {
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

func (s *baselineNetpoll) Addr() net.Addr { return s.ln.Addr() }

func (s *baselineNetpoll) Shutdown(ctx context.Context) error {
	return s.evl.Shutdown(ctx)
}
