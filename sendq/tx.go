package sendq

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// A Sink is the engine side of a Tx: where slot memory comes from and where
// committed frames go. Its methods may be called from any goroutine.
type Sink interface {
	// Alloc returns memory for one frame of n payload bytes: a slice of
	// length codec.HeaderSize+n whose first HeaderSize bytes are reserved
	// for the header.
	Alloc(n int) ([]byte, error)
	// Commit publishes frame (header already written, len 4+n) as one
	// frame. It must not wait for the network. Ownership of frame passes
	// to the sink. It returns framelink.ErrClosed (or a wrapped error)
	// after the sink was closed, and then owns frame all the same.
	Commit(frame []byte) error
	// Discard takes back memory from Alloc that will not be published.
	Discard(frame []byte)
}

// Tx implements framelink.Tx over a Sink: Reserve waits on the Budget,
// Alloc and Commit go to the Sink, and a pooled state object per permit
// catches double use.
type Tx struct {
	sink     Sink
	budget   *Budget
	counters *framelink.Counters
	max      uint32
	closed   atomic.Bool
	closeFn  func() error
	ops      sync.Pool
}

// NewTx returns a Tx. budget and counters are shared with the engine (it
// subtracts written bytes from budget); closeFn implements Tx.Close after
// Reserve has been shut (flush what was committed, then half-close).
func NewTx(sink Sink, budget *Budget, counters *framelink.Counters, maxFrame uint32, closeFn func() error) *Tx {
	t := &Tx{sink: sink, budget: budget, counters: counters, max: maxFrame, closeFn: closeFn}
	t.ops.New = func() any { return &op{tx: t} }
	return t
}

// Permit and slot states, in the low bits of op.state; the id is above.
const (
	stPermit = 1
	stSlot   = 2
	stDone   = 3
	stBits   = 2
)

var nextID atomic.Uint64

// op is the state behind one Permit and then its Slot. It is recycled
// through Tx.ops; a handle whose id no longer matches is stale.
type op struct {
	tx    *Tx
	state atomic.Uint64
	buf   []byte
	track slotTrack // debug build: reports a slot dropped without Commit or Discard
}

// Reserve implements framelink.Tx.
// r[impl link.tx.reserve] r[impl link.tx.cancel]
func (t *Tx) Reserve(ctx context.Context) (framelink.Permit, error) {
	if t.closed.Load() {
		return framelink.Permit{}, framelink.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return framelink.Permit{}, err
	}
	if err := t.budget.Wait(ctx); err != nil {
		return framelink.Permit{}, err
	}
	if t.closed.Load() {
		return framelink.Permit{}, framelink.ErrClosed
	}
	o := t.ops.Get().(*op)
	id := nextID.Add(1)
	o.state.Store(id<<stBits | stPermit)
	return framelink.NewPermit(o, id), nil
}

// Send implements framelink.Tx. r[impl link.tx.send]
func (t *Tx) Send(ctx context.Context, p []byte) error {
	pm, err := t.Reserve(ctx)
	if err != nil {
		return err
	}
	s, err := pm.Alloc(len(p))
	if err != nil {
		return err
	}
	copy(s.Bytes(), p)
	return s.Commit()
}

// Close implements framelink.Tx: it shuts Reserve, then runs the engine's
// close function. r[impl link.tx.close]
func (t *Tx) Close() error {
	t.closed.Store(true)
	t.budget.Close(framelink.ErrClosed)
	if t.closeFn != nil {
		return t.closeFn()
	}
	return nil
}

// Closed reports whether Close was called.
func (t *Tx) Closed() bool { return t.closed.Load() }

// Direct returns a Slot without a Permit or a budget wait: for push-API
// connections, whose callbacks must never block (r[serve.reply]).
func (t *Tx) Direct(n int) (framelink.Slot, error) {
	if t.closed.Load() {
		return framelink.Slot{}, framelink.ErrClosed
	}
	o := t.ops.Get().(*op)
	id := nextID.Add(1)
	o.state.Store(id<<stBits | stPermit)
	return o.AllocSlot(id, n)
}

// SendDirect copies p into a Direct slot and commits it.
func (t *Tx) SendDirect(p []byte) error {
	s, err := t.Direct(len(p))
	if err != nil {
		return err
	}
	copy(s.Bytes(), p)
	return s.Commit()
}

func (o *op) recycle() {
	o.track.stop()
	o.buf = nil
	o.tx.ops.Put(o)
}

// AllocSlot implements framelink.PermitImpl.
// r[impl link.tx.alloc.limits] r[impl link.tx.misuse]
func (o *op) AllocSlot(id uint64, n int) (framelink.Slot, error) {
	if !o.state.CompareAndSwap(id<<stBits|stPermit, id<<stBits|stSlot) {
		return framelink.Slot{}, framelink.ErrPermitUsed
	}
	t := o.tx
	var err error
	switch {
	case n < 0:
		err = framelink.ErrNegativeSize
	case uint64(n) > uint64(t.max):
		err = codec.CheckSize(uint64(n), t.max)
	case t.closed.Load():
		err = framelink.ErrClosed
	}
	if err == nil {
		o.buf, err = t.sink.Alloc(n)
	}
	if err != nil {
		o.state.Store(id<<stBits | stDone)
		o.recycle()
		return framelink.Slot{}, err
	}
	o.track.start(o)
	return framelink.NewSlot(o, id, o.buf[codec.HeaderSize:]), nil
}

// ReleasePermit implements framelink.PermitImpl. r[impl link.tx.permit.release]
func (o *op) ReleasePermit(id uint64) error {
	if !o.state.CompareAndSwap(id<<stBits|stPermit, id<<stBits|stDone) {
		return framelink.ErrPermitUsed
	}
	o.recycle()
	return nil
}

// CommitSlot implements framelink.SlotImpl. r[impl link.tx.commit]
func (o *op) CommitSlot(id uint64) error {
	if !o.state.CompareAndSwap(id<<stBits|stSlot, id<<stBits|stDone) {
		return framelink.ErrPermitUsed
	}
	t, frame := o.tx, o.buf
	o.recycle()
	n := len(frame) - codec.HeaderSize
	codec.PutHeader(frame, uint32(n))
	if t.closed.Load() {
		t.sink.Discard(frame)
		return framelink.ErrClosed
	}
	if err := t.sink.Commit(frame); err != nil {
		return err
	}
	t.counters.Out(n)
	return nil
}

// DiscardSlot implements framelink.SlotImpl. r[impl link.tx.discard]
func (o *op) DiscardSlot(id uint64) error {
	if !o.state.CompareAndSwap(id<<stBits|stSlot, id<<stBits|stDone) {
		return framelink.ErrPermitUsed
	}
	t, frame := o.tx, o.buf
	o.recycle()
	t.sink.Discard(frame)
	return nil
}
