// Package sendq is the send-side machinery shared by framelink engines:
// the byte budget with high/low water marks (r[link.tx.backpressure]), the
// permit/slot state machine with misuse detection (r[link.tx.misuse]), and
// a commit queue that a writer drains in batches (r[link.tx.coalesce]).
//
// An engine supplies a Sink (where slot memory comes from and where
// committed frames go); Tx turns it into a framelink.Tx.
package sendq

import (
	"context"
	"sync"
	"sync/atomic"
)

// Budget counts the bytes committed but not yet handed to the kernel and
// blocks Wait while they are over the high-water mark, until they fall
// under the low-water mark (hysteresis).
// r[impl link.tx.backpressure]
type Budget struct {
	high, low int64
	queued    atomic.Int64
	over      atomic.Bool

	isClosed atomic.Bool

	mu     sync.Mutex
	wake   chan struct{} // closed when over clears or on Close; nil if nobody waits
	closed error
}

// NewBudget returns a budget with the given water marks (low <= high).
func NewBudget(high, low int) *Budget { return &Budget{high: int64(high), low: int64(low)} }

// Queued returns the bytes currently counted.
func (b *Budget) Queued() int64 { return b.queued.Load() }

// Over reports whether the budget is above the high-water mark and not yet
// back under the low-water mark.
func (b *Budget) Over() bool { return b.over.Load() }

// Wait returns nil once the budget is not over, ctx's error if ctx ends
// first, or the error given to Close.
func (b *Budget) Wait(ctx context.Context) error {
	for {
		if !b.over.Load() && !b.isClosed.Load() {
			return nil
		}
		b.mu.Lock()
		if b.closed != nil {
			b.mu.Unlock()
			return b.closed
		}
		if !b.over.Load() {
			b.mu.Unlock()
			continue
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		c := b.wake
		b.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Add counts n more queued bytes and reports whether this call pushed the
// budget over the high-water mark.
func (b *Budget) Add(n int) (crossedHigh bool) {
	q := b.queued.Add(int64(n))
	if q > b.high && !b.over.Load() {
		b.mu.Lock()
		if b.queued.Load() > b.high && !b.over.Load() {
			b.over.Store(true)
			crossedHigh = true
			// A Sub that ran between the load above and the store saw
			// over still false and woke nobody: if it brought the count
			// under low, nobody else will clear over, so undo it here.
			// (Any Sub after the store sees over and clears it itself.)
			if b.queued.Load() < b.low {
				b.over.Store(false)
				crossedHigh = false
			}
		}
		b.mu.Unlock()
	}
	return crossedHigh
}

// Sub counts n bytes as written and reports whether this call brought the
// budget back under the low-water mark, waking the waiters.
func (b *Budget) Sub(n int) (crossedLow bool) {
	q := b.queued.Add(-int64(n))
	if q < b.low && b.over.Load() {
		b.mu.Lock()
		if b.queued.Load() < b.low && b.over.Load() {
			b.over.Store(false)
			crossedLow = true
			if b.wake != nil {
				close(b.wake)
				b.wake = nil
			}
		}
		b.mu.Unlock()
	}
	return crossedLow
}

// Close makes every current and later Wait return err (the first error
// given is kept).
func (b *Budget) Close(err error) {
	b.mu.Lock()
	if b.closed == nil {
		b.closed = err
		b.isClosed.Store(true)
	}
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}
