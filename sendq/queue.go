package sendq

import (
	"sync"

	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// Queue is a Sink for engines with a writer goroutine: slots are pool
// buffers, Commit appends the frame to a list and signals Ready, and the
// writer Takes every frame queued so far and writes them in one vectored
// write (r[link.tx.coalesce]), then gives them back with Done.
type Queue struct {
	budget *Budget
	ready  chan struct{}

	mu     sync.Mutex
	frames [][]byte
	shut   error
}

// NewQueue returns a Queue whose committed bytes count against budget.
func NewQueue(budget *Budget) *Queue {
	return &Queue{budget: budget, ready: make(chan struct{}, 1)}
}

// Alloc implements Sink with a pool buffer.
func (q *Queue) Alloc(n int) ([]byte, error) { return pool.Get(codec.HeaderSize + n), nil }

// Discard implements Sink.
func (q *Queue) Discard(frame []byte) { pool.Put(frame) }

// Commit implements Sink: it queues frame and signals Ready without
// waiting. After Shut it drops frame and returns the Shut error.
func (q *Queue) Commit(frame []byte) error {
	q.mu.Lock()
	if q.shut != nil {
		err := q.shut
		q.mu.Unlock()
		pool.Put(frame)
		return err
	}
	q.frames = append(q.frames, frame)
	q.mu.Unlock()
	q.budget.Add(len(frame))
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

// Ready is signalled (capacity one, coalescing) after commits.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Take moves every queued frame to dst (usually dst[:0] of the previous
// batch, so steady state does not allocate) and reports whether the queue
// is shut, in which case nothing more will arrive once dst is written.
func (q *Queue) Take(dst [][]byte) ([][]byte, bool) {
	q.mu.Lock()
	dst = append(dst, q.frames...)
	clear(q.frames)
	q.frames = q.frames[:0]
	shut := q.shut != nil
	q.mu.Unlock()
	return dst, shut
}

// Done gives written (or abandoned) frames back to the pool and their bytes
// back to the budget, and clears the slice for reuse.
func (q *Queue) Done(frames [][]byte) {
	n := 0
	for i, f := range frames {
		n += len(f)
		pool.Put(f)
		frames[i] = nil
	}
	q.budget.Sub(n)
}

// Shut makes later Commits fail with err (the first error is kept) and
// signals Ready so the writer notices. Frames already queued stay for Take.
func (q *Queue) Shut(err error) {
	q.mu.Lock()
	if q.shut == nil {
		q.shut = err
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
