//go:build !windows

package netpoll

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
)

// link is a pull-API framelink.Link over a netpoll.Connection that has no
// OnRequest: netpoll's poller fills its input buffer, Recv reads it with
// netpoll's blocking Reader, and the Tx writes into its Writer (output).
// r[impl transport.netpoll] r[impl serve.pull]
type link struct {
	conn     netpoll.Connection
	max      uint32
	counters framelink.Counters
	budget   *sendq.Budget
	out      output
	tx       tx
	rx       rx

	closeOnce sync.Once
	connOnce  sync.Once
	hup       chan struct{} // closed when netpoll's poller saw the hang-up
	fdMu      sync.Mutex    // orders Tx.Close's shutdown(2) before Close's close(2)
	closed    atomic.Bool
	helpers   sync.WaitGroup // Recv waiters (see rx)
}

// newLink wraps c, which the link owns from now on. o is normalized.
func newLink(c netpoll.Connection, o framelink.Options) (*link, error) {
	l := &link{conn: c, max: o.MaxFrame, hup: make(chan struct{})}
	// netpoll calls this from its hang-up handling, after its poller has
	// removed the descriptor from epoll (see closeConn).
	var hupOnce sync.Once
	sd, ok := c.(interface {
		SetOnDisconnect(netpoll.OnDisconnect) error
	})
	if !ok {
		return nil, errors.New("framelink/netpoll: netpoll connection without SetOnDisconnect")
	}
	if err := sd.SetOnDisconnect(func(context.Context, netpoll.Connection) {
		hupOnce.Do(func() { close(l.hup) })
	}); err != nil {
		return nil, err
	}
	l.budget = sendq.NewBudget(o.HighWater, o.LowWater)
	l.out.init(l, false, c, l.budget, &l.counters, o.HighWater)
	l.tx.Tx = sendq.NewTx(&l.out, l.budget, &l.counters, o.MaxFrame, l.closeTx)
	l.tx.l = l
	l.rx.init(l)
	// Runs inside Connection.Close, before netpoll frees the buffers.
	if err := c.AddCloseCallback(func(netpoll.Connection) error {
		l.out.closeWait(framelink.ErrClosed)
		l.budget.Close(framelink.ErrClosed)
		return nil
	}); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *link) outputFailed(err error) { l.budget.Close(err) }
func (l *link) outputOverflow()        {}
func (l *link) outputDrained()         {}

// Tx returns the sending half; safe for concurrent use.
func (l *link) Tx() framelink.Tx { return &l.tx }

// Rx returns the receiving half; Recv from one goroutine at a time.
func (l *link) Rx() framelink.Rx { return &l.rx }

// Stats returns the counters; QueuedBytes are the bytes committed but not
// yet handed to the kernel.
func (l *link) Stats() framelink.Stats {
	return l.out.stats()
}

// Close closes both halves: pending Reserve and Recv return ErrClosed, the
// connection is closed, and every goroutine the link started has ended
// when it returns. Idempotent, any goroutine. r[impl link.close]
func (l *link) Close() error {
	l.closeOnce.Do(func() {
		l.fdMu.Lock()
		l.closed.Store(true)
		l.fdMu.Unlock()
		l.budget.Close(framelink.ErrClosed)
		l.out.fail(framelink.ErrClosed)
		l.closeConn()
		l.helpers.Wait()
		l.out.closeWait(framelink.ErrClosed)
	})
	return nil
}

// abort closes the connection after a fatal receive error (an oversize
// header, r[wire.max]) without marking the link closed: Recv keeps
// returning that error, Reserve and commits return ErrClosed. Safe from
// the Recv waiter goroutine.
func (l *link) abort() {
	l.budget.Close(framelink.ErrClosed)
	l.out.fail(framelink.ErrClosed)
	l.closeConn()
}

// closeConn closes the connection once. A connection without callbacks
// is closed by netpoll's Close at once, while its poller may still be
// handling a hang-up of the same descriptor on another thread and remove
// "it" from epoll a moment later: by then the number can belong to a new
// connection, which would never see another event. So the socket is shut
// down first, netpoll's poller sees the hang-up, detaches the descriptor
// and reports it (OnDisconnect), and only then Close frees the
// descriptor. Close wakes a Recv waiter and a flusher blocked in Flush
// and runs the close callback (which waits for the flusher).
func (l *link) closeConn() {
	l.connOnce.Do(func() {
		l.fdMu.Lock()
		_ = syscall.Shutdown(l.conn.(netpoll.Conn).Fd(), syscall.SHUT_RDWR)
		l.fdMu.Unlock()
		t := time.NewTimer(hupWait)
		select {
		case <-l.hup:
		case <-t.C: // not expected; close regardless
		}
		t.Stop()
		_ = l.conn.Close()
	})
}

// hupWait bounds closeConn's wait for netpoll to see the hang-up.
const hupWait = 5 * time.Second

// closeTx is Tx.Close after Reserve was shut: wait until every committed
// frame is in the kernel, then half-close so the peer reads a clean end of
// stream. r[impl link.tx.close]
func (l *link) closeTx() error {
	l.out.mu.Lock()
	if l.out.shut == nil {
		l.out.shut = framelink.ErrClosed
	}
	l.out.mu.Unlock()
	if err := l.out.waitDrained(); err != nil {
		if l.closed.Load() {
			return nil
		}
		return err
	}
	l.fdMu.Lock()
	defer l.fdMu.Unlock()
	if l.closed.Load() {
		return nil
	}
	if err := syscall.Shutdown(l.conn.(netpoll.Conn).Fd(), syscall.SHUT_WR); err != nil && err != syscall.ENOTCONN {
		return err
	}
	return nil
}

// tx is the link's framelink.Tx: sendq.Tx for permits and slots (with its
// misuse detection), and a Send that copies straight into netpoll's Writer.
type tx struct {
	*sendq.Tx
	l *link
}

// Send implements framelink.Tx: wait on the budget, then copy p into the
// Writer as one frame. p is not retained. r[impl link.tx.send]
func (t *tx) Send(ctx context.Context, p []byte) error {
	if t.Closed() {
		return framelink.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := codec.CheckSize(uint64(len(p)), t.l.max); err != nil {
		return err
	}
	if err := t.l.budget.Wait(ctx); err != nil {
		return err
	}
	if t.Closed() {
		return framelink.ErrClosed
	}
	return t.l.out.send(p)
}

// poolRelease gives a received frame's buffer back to the pool.
type poolRelease struct{}

func (poolRelease) ReleaseFrame(b []byte) { pool.Put(b) }
