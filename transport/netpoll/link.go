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

// link is a pull-API framelink.Link over a netpoll.Connection: netpoll's
// poller fills its input buffer, the link's OnRequest moves whole frames
// from it to a bounded queue that Recv takes them from (see rx), and the
// Tx writes into its Writer (output).
// r[impl transport.netpoll] r[impl serve.pull]
type link struct {
	conn     netpoll.Connection
	max      uint32
	counters framelink.Counters
	budget   *sendq.Budget
	out      output
	tx       tx
	rx       rx

	o         framelink.Options
	high, low int

	closeOnce sync.Once
	connOnce  sync.Once
	hup       chan struct{} // closed when netpoll's poller saw the hang-up
	fdMu      sync.Mutex    // orders Tx.Close's shutdown(2) before the descriptor's close
	fdGone    bool          // under fdMu: netpoll closed the descriptor
	wrShut    bool          // under fdMu: Tx.Close shut the write side
	rs        *readSwitch   // nil: reads cannot be switched off (see rx.pause)
	closed    atomic.Bool
}

// newLink wraps c, which the link owns from now on. o is normalized.
// switchReads: pause by switching netpoll's reads off where possible (the
// tests of the fallback turn it off).
func newLink(c netpoll.Connection, o framelink.Options, switchReads bool) (*link, error) {
	l := &link{conn: c, max: o.MaxFrame, o: o, high: o.HighWater, low: o.LowWater, hup: make(chan struct{})}
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
	l.out.localClosed = &l.closed
	if switchReads {
		l.rs = newReadSwitch(c, func() bool { return l.fdGone })
	}
	l.out.ownWait = true
	l.tx.Tx = sendq.NewTx(&l.out, l.budget, &l.counters, o.MaxFrame, l.closeTx)
	l.tx.l = l
	l.rx.init(l)
	// netpoll runs this once, after the last OnRequest returned and before
	// it closes the descriptor and frees the buffers: on Close, or on its
	// own when the poller sees the peer's hang-up.
	if err := c.AddCloseCallback(func(netpoll.Connection) error {
		l.fdMu.Lock()
		l.fdGone = true
		l.fdMu.Unlock()
		err := framelink.ErrClosed
		if !l.closed.Load() {
			err = errPeerClosed
		}
		l.out.closeWait(err)
		l.budget.Close(err)
		l.rx.closed()
		return nil
	}); err != nil {
		return nil, err
	}
	if h := beforeOnRequest.Load(); h != nil {
		(*h)(l)
	}
	// Last: with input already buffered, OnRequest starts at once.
	if err := c.SetOnRequest(l.rx.onRequest); err != nil {
		return nil, err
	}
	// The poller handles the descriptor from NewFDConnection on. A
	// hang-up it saw before OnRequest was set does not run the close
	// callback (netpoll leaves that to Close, or to an OnRequest that
	// buffered input starts: none if there is none), and one seen before
	// OnDisconnect was set is not reported: Recv would wait for an end
	// of stream already seen, closeConn for a hang-up already handled.
	// Only the poller can have closed the connection yet, after it
	// detached the descriptor; closing it here runs the close callback
	// now (or when a running OnRequest returns), which decodes what the
	// input holds (rx.closed).
	if !c.IsActive() {
		hupOnce.Do(func() { close(l.hup) })
		_ = c.Close()
	}
	return l, nil
}

// beforeOnRequest, if set (tests only), is called by newLink after the
// close callback is added and before OnRequest is set: a test can hold a
// link there until netpoll has handled the peer's end of stream.
var beforeOnRequest atomic.Pointer[func(*link)]

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
		<-l.rx.done // the close callback ran: OnRequest is over
		l.rx.drop()
	})
	return nil
}

// abort closes the connection after a fatal receive error (an oversize
// header, r[wire.max]) without marking the link closed: Recv keeps
// returning that error, Reserve and commits return ErrClosed. Called from
// OnRequest, which it does not wait for.
func (l *link) abort() {
	l.budget.Close(framelink.ErrClosed)
	l.out.fail(framelink.ErrClosed)
	l.closeConn()
}

// closeConn closes the connection once. netpoll's Close detaches and
// closes the descriptor at once, while its poller may still be handling a
// hang-up of the same descriptor on another thread and remove "it" from
// epoll a moment later: by then the number can belong to a new
// connection, which would never see another event. So the socket is shut
// down first; netpoll's poller sees the hang-up, detaches the descriptor,
// reports it (OnDisconnect), wakes OnRequest and, once OnRequest has
// returned, runs the close callback and closes the descriptor; Close then
// only marks the connection closed by the user (or, if OnRequest is still
// running, lets it run the close callback when it returns).
func (l *link) closeConn() {
	l.connOnce.Do(func() {
		l.fdMu.Lock()
		if !l.fdGone {
			_ = syscall.Shutdown(l.conn.(netpoll.Conn).Fd(), syscall.SHUT_RDWR)
		}
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

// setReadsOff switches netpoll's reads of the socket off or back on.
func (l *link) setReadsOff(off bool) {
	if h := readSwitchHook.Load(); h != nil {
		(*h)(l, off)
	}
	l.fdMu.Lock()
	l.rs.setOff(off)
	l.fdMu.Unlock()
}

// readSwitchHook, if set (tests only), is called by setReadsOff on the
// goroutine that switches, before reads are switched off (true) or on.
var readSwitchHook atomic.Pointer[func(l *link, off bool)]

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
		l.fdMu.Lock()
		again := l.wrShut
		l.fdMu.Unlock()
		if l.closed.Load() || again {
			return nil
		}
		return err
	}
	l.fdMu.Lock()
	defer l.fdMu.Unlock()
	if l.closed.Load() || l.wrShut || l.fdGone {
		// Closed here; a repeated Tx.Close; or the connection ended
		// (netpoll closes it at the peer's end of stream) after every
		// frame committed was in the kernel.
		return nil
	}
	if l.rs != nil {
		l.rs.keepOn()
	}
	if err := syscall.Shutdown(l.conn.(netpoll.Conn).Fd(), syscall.SHUT_WR); err != nil && err != syscall.ENOTCONN {
		return err
	}
	l.wrShut = true
	return nil
}

// tx is the link's framelink.Tx: sendq.Tx for permits and slots (with its
// misuse detection), and a Send that copies straight into netpoll's Writer.
type tx struct {
	*sendq.Tx
	l *link
}

// Reserve implements framelink.Tx (sendq's), with ErrClosed after Close
// whatever ended the connection first.
func (t *tx) Reserve(ctx context.Context) (framelink.Permit, error) {
	p, err := t.Tx.Reserve(ctx)
	if err != nil && t.l.closed.Load() {
		err = framelink.ErrClosed
	}
	return p, err
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
		if t.l.closed.Load() {
			return framelink.ErrClosed
		}
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
