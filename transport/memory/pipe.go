package memory

import (
	"context"
	"io"
	"sync"
	"unsafe"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
)

// Pipe returns two connected in-process links with options o: frames
// committed on a are received on b and the other way round. The links
// start no goroutine; Close both when done (Close is idempotent).
//
// As for every link, Tx and Close may be used from any goroutine and Recv
// from one goroutine at a time. Slot memory and received frames are pool
// buffers: a slot's bytes belong to the caller until Commit or Discard,
// then travel to the peer without a copy; a received Frame's bytes belong
// to the receiver until Frame.Release gives them back to the pool.
// r[impl transport.memory]
func Pipe(o framelink.Options) (a, b framelink.Link, err error) {
	o, err = o.Normalize()
	if err != nil {
		return nil, nil, err
	}
	la, lb := newLink(o), newLink(o)
	la.peer, lb.peer = lb, la
	return la, lb, nil
}

// link is one end of a Pipe. It is its own Rx, its own Sink (frames
// committed on its Tx go into peer.in) and its own FrameReleaser.
type link struct {
	peer     *link
	tx       *sendq.Tx
	budget   *sendq.Budget // bytes this end committed and the peer has not taken
	counters framelink.Counters

	closeOnce sync.Once
	done      chan struct{} // closed by Close: wakes a pending Recv

	in inbox
}

// inbox is the receive queue of a link: frames the peer committed, with
// their headers, in order.
type inbox struct {
	ready chan struct{} // capacity 1: a frame or an end arrived

	mu     sync.Mutex
	q      [][]byte
	head   int
	eof    bool // the peer closed its sending half: io.EOF after q
	closed bool // this link was closed: Recv returns ErrClosed
}

func newLink(o framelink.Options) *link {
	l := &link{
		budget: sendq.NewBudget(o.HighWater, o.LowWater),
		done:   make(chan struct{}),
	}
	l.in.ready = make(chan struct{}, 1)
	l.tx = sendq.NewTx(l, l.budget, &l.counters, o.MaxFrame, l.closeTx)
	return l
}

// Tx implements framelink.Link.
func (l *link) Tx() framelink.Tx { return l.tx }

// Rx implements framelink.Link.
func (l *link) Rx() framelink.Rx { return l }

// Stats implements framelink.Link: QueuedBytes is what this end committed
// and the peer has not received yet.
func (l *link) Stats() framelink.Stats {
	s := l.counters.Snapshot()
	s.QueuedBytes = l.budget.Queued()
	return s
}

// Alloc implements sendq.Sink with a pool buffer.
func (l *link) Alloc(n int) ([]byte, error) { return pool.Get(codec.HeaderSize + n), nil }

// Discard implements sendq.Sink.
func (l *link) Discard(frame []byte) { pool.Put(frame) }

// Commit implements sendq.Sink: frame goes to the end of the peer's
// inbox, and its bytes count against this end's budget until the peer's
// Recv takes it. It never waits.
func (l *link) Commit(frame []byte) error {
	in := &l.peer.in
	in.mu.Lock()
	switch {
	case in.eof:
		// This end's Tx was closed: the peer already has its end of
		// stream, so the frame is not published.
		in.mu.Unlock()
		pool.Put(frame)
		return framelink.ErrClosed
	case in.closed:
		in.mu.Unlock()
		pool.Put(frame)
		return io.ErrClosedPipe
	}
	if len(in.q) == cap(in.q) && in.head > 0 {
		// Compact instead of growing: the queue is bounded by the budget.
		n := copy(in.q, in.q[in.head:])
		clear(in.q[n:])
		in.q, in.head = in.q[:n], 0
	}
	in.q = append(in.q, frame)
	l.budget.Add(len(frame))
	in.mu.Unlock()
	in.signal()
	return nil
}

func (in *inbox) signal() {
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

// closeTx implements Tx.Close after sendq shut Reserve: the peer gets its
// end of stream after the frames already queued.
func (l *link) closeTx() error {
	in := &l.peer.in
	in.mu.Lock()
	in.eof = true
	in.mu.Unlock()
	in.signal()
	return nil
}

// Recv implements framelink.Rx. r[impl link.rx.recv] r[impl link.rx.eof]
func (l *link) Recv(ctx context.Context) (framelink.Frame, error) {
	in := &l.in
	for {
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return framelink.Frame{}, framelink.ErrClosed
		}
		if in.head < len(in.q) {
			frame := in.q[in.head]
			in.q[in.head] = nil
			in.head++
			if in.head == len(in.q) {
				in.q, in.head = in.q[:0], 0
			}
			in.mu.Unlock()
			l.peer.budget.Sub(len(frame))
			p := frame[codec.HeaderSize:]
			l.counters.In(len(p))
			return framelink.NewFrame(p, releaser{}), nil
		}
		eof := in.eof
		in.mu.Unlock()
		if eof {
			return framelink.Frame{}, io.EOF
		}
		select {
		case <-in.ready:
		case <-l.done:
		case <-ctx.Done():
			return framelink.Frame{}, ctx.Err()
		}
	}
}

// releaser gives a received payload's buffer, header included, back to
// the pool.
type releaser struct{}

// ReleaseFrame implements framelink.FrameReleaser: p is frame[4:] of a
// buffer from pool.Get, so the buffer starts 4 bytes before p.
func (releaser) ReleaseFrame(p []byte) {
	start := unsafe.Add(unsafe.Pointer(unsafe.SliceData(p)), -codec.HeaderSize)
	pool.Put(unsafe.Slice((*byte)(start), codec.HeaderSize+cap(p)))
}

// Close implements framelink.Link. r[impl link.close]
func (l *link) Close() error {
	l.closeOnce.Do(func() {
		// Our sending half: shut Reserve (pending ones return ErrClosed)
		// and give the peer its end of stream.
		_ = l.tx.Close()
		// Our receiving half: drop what we did not take, crediting the
		// peer's budget, and refuse the peer's further frames.
		in := &l.in
		in.mu.Lock()
		in.closed = true
		dropped := 0
		for i := in.head; i < len(in.q); i++ {
			dropped += len(in.q[i])
			pool.Put(in.q[i])
			in.q[i] = nil
		}
		in.q, in.head = nil, 0
		in.mu.Unlock()
		l.peer.budget.Sub(dropped)
		l.peer.budget.Close(io.ErrClosedPipe)
		close(l.done)
	})
	return nil
}
