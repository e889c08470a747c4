//go:build !windows

package netpoll

import (
	"context"
	"encoding/binary"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// rx is the receiving half of a pull link. netpoll's poller reads the
// socket into the connection's input buffer in the background; Recv takes
// whole frames out of it with the blocking Reader (Peek the header, check
// the limit, Next the frame) and copies each payload into a pool buffer
// that the Frame owns, so the input buffer is released at once.
//
// netpoll's blocking reads cannot be interrupted except by data, a read
// timeout or Close. A Recv whose context cannot end blocks in the Reader
// directly. A Recv whose context can end and has to wait hands the read
// to a waiter goroutine and selects on it and ctx; if ctx ends first the
// waiter stays outstanding and the next Recv takes its result, so no frame
// is lost (r[link.rx.recv]). Close wakes the waiter.
type rx struct {
	l      *link
	r      netpoll.Reader
	err    error // sticky (r[link.rx.eof], r[link.rx.error])
	wait   chan result
	outstd bool // a waiter owns the Reader and will send on wait
}

type result struct {
	f   framelink.Frame
	err error
}

func (r *rx) init(l *link) {
	r.l = l
	r.r = l.conn.Reader()
	r.wait = make(chan result, 1)
}

// Recv implements framelink.Rx. r[impl link.rx.recv]
func (r *rx) Recv(ctx context.Context) (framelink.Frame, error) {
	if r.outstd {
		select {
		case res := <-r.wait:
			r.outstd = false
			return r.done(res.f, res.err)
		case <-ctx.Done():
			return framelink.Frame{}, ctx.Err()
		}
	}
	if r.err != nil {
		return framelink.Frame{}, r.err
	}
	if r.l.closed.Load() {
		return framelink.Frame{}, r.dead(framelink.ErrClosed)
	}
	if ctx.Done() == nil || r.buffered() {
		return r.done(r.read())
	}
	if err := ctx.Err(); err != nil {
		return framelink.Frame{}, err
	}
	// Add under fdMu, which Close holds to set closed: no Add can follow
	// Close's helpers.Wait.
	r.l.fdMu.Lock()
	if r.l.closed.Load() {
		r.l.fdMu.Unlock()
		return framelink.Frame{}, r.dead(framelink.ErrClosed)
	}
	r.outstd = true
	r.l.helpers.Add(1)
	r.l.fdMu.Unlock()
	go r.waiter()
	select {
	case res := <-r.wait:
		r.outstd = false
		return r.done(res.f, res.err)
	case <-ctx.Done():
		return framelink.Frame{}, ctx.Err()
	}
}

func (r *rx) waiter() {
	defer r.l.helpers.Done()
	f, err := r.read()
	r.wait <- result{f, err}
}

func (r *rx) done(f framelink.Frame, err error) (framelink.Frame, error) {
	if err != nil {
		return framelink.Frame{}, r.dead(err)
	}
	return f, nil
}

// dead makes err sticky. r[impl link.rx.eof] r[impl link.rx.error] After a local Close every Recv returns ErrClosed.
func (r *rx) dead(err error) error {
	if r.err == nil {
		r.err = err
	}
	if r.l.closed.Load() {
		return framelink.ErrClosed
	}
	return r.err
}

// buffered reports whether a whole frame (or an oversize header) is in
// the input buffer, so read will not block.
func (r *rx) buffered() bool {
	n := r.r.Len()
	if n < codec.HeaderSize {
		return false
	}
	hdr, err := r.r.Peek(codec.HeaderSize)
	if err != nil {
		return false
	}
	size := binary.LittleEndian.Uint32(hdr)
	return size > r.l.max || n >= codec.HeaderSize+int(size)
}

// read takes the next frame, blocking until it is whole. Only one
// goroutine (Recv or its waiter) calls it at a time.
// r[impl wire.max] r[impl wire.eof] r[impl wire.truncated]
func (r *rx) read() (framelink.Frame, error) {
	hdr, err := r.r.Peek(codec.HeaderSize)
	if err != nil {
		return framelink.Frame{}, r.readErr(err)
	}
	// The limit is checked on the header alone: nothing of an oversize
	// frame is awaited or copied.
	_, advance, need, err := codec.Split(hdr, r.l.max)
	if err != nil {
		r.l.counters.Oversize.Add(1)
		r.l.abort()
		return framelink.Frame{}, err
	}
	total := advance + need // Split returns one of them
	b, err := r.r.Next(total)
	if err != nil {
		return framelink.Frame{}, r.readErr(err)
	}
	n := total - codec.HeaderSize
	buf := pool.Get(n)
	copy(buf, b[codec.HeaderSize:])
	_ = r.r.Release()
	r.l.counters.In(n)
	return framelink.NewFrame(buf, poolRelease{}), nil
}

func (r *rx) readErr(err error) error {
	if r.l.closed.Load() {
		return framelink.ErrClosed
	}
	return readErr(err, r.r.Len() > 0)
}
