package netstd

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// deadliner is a reader whose blocked reads a past deadline interrupts.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// pastDeadline is a read deadline that has already passed.
var pastDeadline = time.Unix(1, 0)

// pumped is one result of the pump goroutine.
type pumped struct {
	b   []byte
	err error
}

// rx is the receiving half of a link. Recv is called from one goroutine
// at a time (framelink.Rx).
type rx struct {
	l  *link
	rd *codec.Reader
	dl deadliner // nil: pump mode
	// err is sticky once the receiver is dead (r[link.rx.error]).
	err error

	// Context watch: interrupt fires from a context.AfterFunc goroutine,
	// sets a past read deadline, then signals fired. dirty means that
	// deadline is still set and must be cleared before the next read.
	//
	// watch stops the current context.AfterFunc registration. A
	// comparable ctx (watchCtx) stays watched across Recv calls, so a
	// loop over one long-lived ctx allocates nothing per frame; the watch
	// is replaced when Recv gets another ctx.
	interrupt func()
	fired     chan struct{}
	dirty     bool
	watch     func() bool
	watchCtx  context.Context

	pump chan pumped
}

func (r *rx) init(l *link, rd *codec.Reader, dl deadliner) {
	r.l, r.rd, r.dl = l, rd, dl
	r.fired = make(chan struct{}, 1)
	r.interrupt = func() {
		_ = r.dl.SetReadDeadline(pastDeadline)
		r.fired <- struct{}{}
	}
}

// Recv implements framelink.Rx. r[impl link.rx.recv] r[impl link.rx.eof]
// r[impl link.rx.error]
func (r *rx) Recv(ctx context.Context) (framelink.Frame, error) {
	if r.err != nil {
		return framelink.Frame{}, r.err
	}
	if r.l.closed.Load() {
		return framelink.Frame{}, r.dead(framelink.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return framelink.Frame{}, err
	}
	if r.dl == nil {
		return r.recvPump(ctx)
	}
	if r.watch != nil && r.watchCtx != ctx {
		r.unwatch()
	}
	if r.dirty {
		_ = r.dl.SetReadDeadline(time.Time{})
		r.dirty = false
	}
	if r.watch == nil && ctx.Done() != nil && !r.rd.Ready() {
		r.watch = context.AfterFunc(ctx, r.interrupt)
		r.watchCtx = nil
		if reflect.TypeOf(ctx).Comparable() {
			r.watchCtx = ctx // keep watching it across calls: no allocation
		}
	}
	b, err := r.rd.Next()
	if r.watch != nil && r.watchCtx == nil {
		r.unwatch()
	}
	if err != nil {
		if r.watch != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			<-r.fired // the interrupt ran: its deadline is set
			r.watch, r.watchCtx, r.dirty = nil, nil, true
		}
		if r.err == nil && !errors.Is(err, os.ErrDeadlineExceeded) && r.watch != nil {
			r.unwatch() // the receiver is dead: stop watching ctx
		}
		return framelink.Frame{}, r.fail(ctx, err)
	}
	r.l.counters.In(len(b))
	return framelink.NewFrame(b, poolRelease{}), nil
}

// unwatch stops the context watch; if its interrupt already ran, it waits
// for it and marks the past deadline for clearing.
func (r *rx) unwatch() {
	if !r.watch() {
		<-r.fired
		r.dirty = true
	}
	r.watch, r.watchCtx = nil, nil
}

func (r *rx) recvPump(ctx context.Context) (framelink.Frame, error) {
	select {
	case p := <-r.pump:
		if p.err != nil {
			return framelink.Frame{}, r.fail(ctx, p.err)
		}
		r.l.counters.In(len(p.b))
		return framelink.NewFrame(p.b, poolRelease{}), nil
	case <-ctx.Done():
		return framelink.Frame{}, ctx.Err()
	case <-r.l.done:
		return framelink.Frame{}, r.dead(framelink.ErrClosed)
	}
}

// pumpLoop reads ahead of Recv for readers without deadlines. A frame it
// holds is handed to the next Recv, never lost to a cancelled one.
func (r *rx) pumpLoop(done chan struct{}) {
	if done != nil {
		defer close(done)
	}
	for {
		b, err := r.rd.Next()
		select {
		case r.pump <- pumped{b, err}:
		case <-r.l.done:
			if b != nil {
				pool.Put(b)
			}
			r.rd.Close(framelink.ErrClosed)
			return
		}
		if err != nil {
			return
		}
	}
}

// fail maps a read error and makes it sticky, except a context interrupt,
// after which the next Recv resumes the same frame.
func (r *rx) fail(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		return ctx.Err()
	}
	if r.l.closed.Load() {
		return r.dead(framelink.ErrClosed)
	}
	if errors.Is(err, framelink.ErrFrameTooLarge) {
		// r[impl wire.max]: count, and close the link.
		r.l.counters.Oversize.Add(1)
		r.err = err
		_ = r.l.Close()
		return err
	}
	return r.dead(err)
}

func (r *rx) dead(err error) error {
	if r.err == nil {
		r.err = err
		if !errors.Is(err, io.EOF) && r.dl != nil {
			r.rd.Close(err) // give the read buffer back
		}
	}
	return r.err
}
