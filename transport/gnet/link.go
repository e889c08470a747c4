//go:build unix

package gnet

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// pullLink is the framelink.Link view of a conn (pull API).
type pullLink conn

// rxHalf is the framelink.Rx view of a conn.
type rxHalf conn

// Tx implements framelink.Link: a sendq.Tx over the conn. Reserve waits
// while the bytes committed and not yet written (gnet's outbound buffer
// included) are over the high-water mark. Safe for concurrent use.
func (l *pullLink) Tx() framelink.Tx { return l.tx.Load() }

// Rx implements framelink.Link.
func (l *pullLink) Rx() framelink.Rx { return (*rxHalf)(l) }

// Stats implements framelink.Link.
func (l *pullLink) Stats() framelink.Stats { return (*conn)(l).Stats() }

// Close implements framelink.Link: pending Reserve and Recv calls return
// ErrClosed, the connection is closed on its loop, and Close returns once
// gnet reported it closed; the last link of a shared client engine, or of
// a closed Listener, stops that engine before Close returns. Frames
// committed and not yet written may be lost (use Tx.Close first).
// Idempotent; safe from any goroutine except a gnet event loop.
// r[impl link.close]
func (l *pullLink) Close() error {
	c := (*conn)(l)
	c.closing.Do(func() {
		c.rx.fail(framelink.ErrClosed, true)
		c.userClosed.Store(true)
		c.budget.Close(framelink.ErrClosed)
		_ = c.tx.Load().Close() // shuts Reserve; closeTx returns at once (userClosed)
		c.requestClose()
		<-c.closedCh
		c.e.linkClosed(c)
	})
	return nil
}

// Recv implements framelink.Rx. Frames are decoded on the loop and copied
// into pool buffers (gnet reuses its input memory after the callback);
// the Frame owns its buffer until Release. Call from one goroutine at a
// time.
// r[impl link.rx.recv]
func (r *rxHalf) Recv(ctx context.Context) (framelink.Frame, error) {
	c := (*conn)(r)
	q := c.rx
	for {
		b, resume, ok, err := q.pop()
		if resume {
			c.kick()
		}
		if ok {
			return framelink.NewFrame(b, poolReleaser{}), nil
		}
		if err != nil {
			return framelink.Frame{}, err
		}
		if e := ctx.Err(); e != nil {
			return framelink.Frame{}, e
		}
		select {
		case <-q.sig:
		case <-ctx.Done():
			return framelink.Frame{}, ctx.Err()
		}
	}
}

// poolReleaser gives a received frame's buffer back to the pool.
type poolReleaser struct{}

func (poolReleaser) ReleaseFrame(b []byte) { pool.Put(b) }

// rxQueue holds frames decoded on the loop until Recv takes them. It is
// bounded in bytes: past HighWater the loop stops reading the connection
// until Recv brings it under LowWater (r[link.tx.backpressure] seen from
// the receiving end).
type rxQueue struct {
	mu        sync.Mutex
	q         [][]byte
	head      int
	bytes     int
	err       error
	high, low int
	over      atomic.Bool
	sig       chan struct{}
}

func newRxQueue(high, low int) *rxQueue {
	return &rxQueue{high: high, low: low, sig: make(chan struct{}, 1)}
}

// push queues b (loop).
func (q *rxQueue) push(b []byte) {
	q.mu.Lock()
	if q.err == framelink.ErrClosed {
		q.mu.Unlock()
		pool.Put(b)
		return
	}
	q.q = append(q.q, b)
	q.bytes += len(b)
	if q.bytes > q.high {
		q.over.Store(true)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *rxQueue) signal() {
	select {
	case q.sig <- struct{}{}:
	default:
	}
}

// pop takes the oldest frame, or reports the sticky error once the queue
// is empty; resume is true when this pop brought the queue under the
// low-water mark after it was over.
func (q *rxQueue) pop() (b []byte, resume, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.q) {
		return nil, false, false, q.err
	}
	b = q.q[q.head]
	q.q[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.q):
		q.q, q.head = q.q[:0], 0
		if cap(q.q) > 64 { // an idle link keeps no burst-sized backlog
			q.q = nil
		}
	case q.head > 32 && q.head > len(q.q)/2:
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
	}
	q.bytes -= len(b)
	if q.over.Load() && q.bytes < q.low {
		q.over.Store(false)
		resume = true
	}
	return b, resume, true, nil
}

// fail makes err the queue's end: Recv returns it once the queued frames
// are taken (or at once, dropping them, if drop).
func (q *rxQueue) fail(err error, drop bool) {
	q.mu.Lock()
	if q.err == nil || drop {
		q.err = err
	}
	if drop {
		for i := q.head; i < len(q.q); i++ {
			pool.Put(q.q[i])
			q.q[i] = nil
		}
		q.q, q.head, q.bytes = nil, 0, 0
	}
	q.mu.Unlock()
	q.signal()
}
