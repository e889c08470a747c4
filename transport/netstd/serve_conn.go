package netstd

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/sendq"
)

// sconn is one served connection: the framelink.Conn handed to the
// Handler, and the state of the goroutine that serves it.
//
// Only that goroutine reads and writes nc. Frames committed from other
// goroutines while it is blocked in a read "kick" it: kicked is set and a
// past read deadline interrupts the read; the goroutine then writes them.
// Every read is preceded by setting the read deadline and then checking
// kicked, and every write pass by clearing inLoop, so no kick is lost.
type sconn struct {
	s        *server
	nc       net.Conn
	rd       *codec.Reader
	budget   *sendq.Budget
	q        *sendq.Queue
	tx       *sendq.Tx
	counters framelink.Counters
	writev   bool

	inLoop   atomic.Bool // the goroutine will write before it reads again
	kicked   atomic.Bool // output committed while it may be reading
	closeReq atomic.Bool // Conn.Close was called
	stopping atomic.Bool // Shutdown was called

	// Read-deadline state, owned by the serving goroutine.
	deadline time.Time // the deadline in force
	started  bool      // deadline is a frame deadline
	progress bool      // a frame completed since the deadline was set
	dirty    bool      // a past deadline (kick) must be undone

	// Writer scratch, owned by the serving goroutine.
	batch [][]byte
	iov   [][]byte
	bufs  net.Buffers

	// Send accumulator (serve_acc.go): frames appended by Conn.Send not
	// yet committed to q. A pool buffer, or nil when empty.
	accMu sync.Mutex
	acc   []byte

	userMu  sync.Mutex
	userCtx any
}

func newSconn(s *server, nc net.Conn) *sconn {
	c := &sconn{s: s, nc: nc, writev: hasWritev(nc), progress: true} // progress: arm the idle timeout before the first read
	c.budget = sendq.NewBudget(s.opts.HighWater, s.opts.LowWater)
	c.q = sendq.NewQueue(c.budget)
	c.tx = sendq.NewTx((*connSink)(c), c.budget, &c.counters, s.opts.MaxFrame, nil)
	src := lazySource(nc)
	if lz, ok := src.(codec.LazySource); ok {
		c.rd = codec.NewReader(lazyServeSource{c, src, lz}, s.opts.MaxFrame)
	} else {
		c.rd = codec.NewReader(serveSource{c, src}, s.opts.MaxFrame)
	}
	c.inLoop.Store(true)
	return c
}

// serve is the connection's goroutine.
func (c *sconn) serve() {
	defer c.s.remove(c)
	h := c.s.h
	h.OnOpen(c)
	bh, _ := h.(framelink.BatchHandler)
	err := c.loop(h, bh)
	// Nothing is committed from now on; flush what was (unless the
	// connection failed) and close.
	_ = c.tx.Close()
	_ = c.commitAcc() // Sends see the Tx closed from now on
	c.q.Shut(framelink.ErrClosed)
	if err == nil {
		werr := c.flush()
		switch {
		case werr == nil && c.stopping.Load():
			c.lingerClose()
		case werr != nil && !c.stopping.Load() && !c.closeReq.Load():
			err = werr
		}
	}
	_ = c.nc.Close()
	c.drain()
	c.rd.Close(framelink.ErrClosed)
	h.OnClose(c, err)
}

// loop reads and handles frames until the connection ends: nil for a
// clean end (EOF on a frame boundary, Conn.Close, Shutdown), else the
// error. With a BatchHandler (bh not nil) every frame goes to OnBatch,
// in batches (serve_batch.go); OnFrame is never called.
func (c *sconn) loop(h framelink.Handler, bh framelink.BatchHandler) error {
	for {
		if c.closeReq.Load() || c.stopping.Load() {
			return nil
		}
		if !c.rd.Ready() {
			// About to read: write what the callbacks committed first.
			c.inLoop.Store(false)
			if err := c.flush(); err != nil {
				return err
			}
		}
		var p []byte          // a frame for OnFrame
		var b framelink.Batch // or a batch for OnBatch
		var err error
		if bh != nil {
			// Room is taken after the flush above: what the output takes
			// before its high-water mark (serve_batch.go).
			b, err = c.rd.NextBatch(c.room()) // valid until the next call
		} else {
			p, err = c.rd.NextView() // valid until the next NextView
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if c.kicked.Swap(false) {
					c.dirty = true
					continue
				}
				if c.closeReq.Load() || c.stopping.Load() {
					return nil
				}
			}
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case errors.Is(err, framelink.ErrFrameTooLarge):
				c.counters.Oversize.Add(1)
			}
			return err
		}
		c.inLoop.Store(true)
		c.progress = true
		if bh != nil {
			c.deliverBatch(bh, b)
		} else {
			c.counters.In(len(p))
			h.OnFrame(c, p)
		}
		if c.budget.Over() {
			// r[impl serve.reply]: write everything out before reading on.
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// flush writes every committed frame. Only the serving goroutine calls it.
func (c *sconn) flush() error {
	if err := c.commitAcc(); err != nil {
		return err
	}
	for {
		c.batch, _ = c.q.Take(c.batch[:0])
		if len(c.batch) == 0 {
			return nil
		}
		err := writeBatch(c.nc, c.writev, c.batch, &c.iov, &c.bufs)
		c.q.Done(c.batch)
		if err != nil {
			return err
		}
	}
}

// lingerClose ends a connection at Shutdown once everything committed
// was written (r[serve.shutdown]): it shuts the write side, so the peer
// gets every reply and then a clean end of stream, and reads and discards
// input until the peer closes its side, or (on Linux) the peer's kernel
// acknowledged every byte and the end of stream (or, on a Unix socket,
// the peer read them), or Shutdown's context ends (Shutdown then closes
// nc). Closing a socket with unread input earlier would make the kernel
// send a reset and drop the replies still in flight; once the peer
// acknowledged them, a reset no longer loses any (the peer reads them,
// then the end of stream). The acknowledgement is polled (no event
// reports it), from every millisecond up to every 50 ms. Frames that
// arrive meanwhile are discarded unread: the Handler gets no OnFrame (or
// OnBatch) once Shutdown began. Only the serving goroutine calls it.
// r[impl serve.shutdown]
func (c *sconn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	outq := unacked(c.nc)
	buf := make([]byte, 4<<10)
	wait := time.Millisecond
	for {
		var d time.Time
		if outq != nil {
			if outq() == 0 {
				return
			}
			d = time.Now().Add(wait)
			wait = min(2*wait, 50*time.Millisecond)
		}
		_ = c.nc.SetReadDeadline(d)
		_, err := c.nc.Read(buf)
		// A past deadline is the poll above, or one set by a kick,
		// Conn.Close or another Shutdown call: read on.
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

// drain gives back frames that will not be written.
func (c *sconn) drain() {
	for {
		c.batch, _ = c.q.Take(c.batch[:0])
		if len(c.batch) == 0 {
			return
		}
		c.q.Done(c.batch)
	}
}

// beforeRead runs before every read of nc: it sets the read deadline for
// where the stream is (between frames: idle timeout; inside one: frame
// timeout), then reports whether the read must not happen because the
// goroutine has output to write or must stop.
func (c *sconn) beforeRead() error {
	o := &c.s.opts
	started := c.rd.Started()
	if c.progress || started != c.started {
		c.progress, c.started = false, started
		var d time.Time
		switch {
		case started && o.FrameTimeout > 0:
			d = time.Now().Add(o.FrameTimeout)
		case !started && o.IdleTimeout > 0:
			d = time.Now().Add(o.IdleTimeout)
		}
		if d != c.deadline || c.dirty {
			c.deadline, c.dirty = d, false
			_ = c.nc.SetReadDeadline(d)
		}
	} else if c.dirty {
		c.dirty = false
		_ = c.nc.SetReadDeadline(c.deadline)
	}
	if c.kicked.Load() || c.closeReq.Load() || c.stopping.Load() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// kick interrupts the serving goroutine's read so it writes new output.
func (c *sconn) kick() {
	if c.kicked.CompareAndSwap(false, true) {
		_ = c.nc.SetReadDeadline(pastDeadline)
	}
}

// stop asks the serving goroutine to flush and close (Shutdown).
func (c *sconn) stop() {
	c.stopping.Store(true)
	_ = c.nc.SetReadDeadline(pastDeadline)
}

// connSink is the sendq.Sink of a served connection (a separate method
// set, since framelink.Conn has its own Alloc).
type connSink sconn

// Alloc implements sendq.Sink.
func (k *connSink) Alloc(n int) ([]byte, error) { return k.q.Alloc(n) }

// Discard implements sendq.Sink.
func (k *connSink) Discard(frame []byte) { k.q.Discard(frame) }

// Commit implements sendq.Sink: it queues frame and, unless the serving
// goroutine is about to write anyway, kicks it.
func (k *connSink) Commit(frame []byte) error {
	c := (*sconn)(k)
	c.accMu.Lock()
	err := c.commitAccLocked() // frames sent before frame go first
	if err == nil {
		err = c.q.Commit(frame)
	} else {
		c.q.Discard(frame)
	}
	c.accMu.Unlock()
	if err != nil {
		return err
	}
	if !c.inLoop.Load() {
		c.kick()
	}
	return nil
}

// framelink.Conn

// Alloc implements framelink.Conn: a slot that never waits. Safe from any
// goroutine.
func (c *sconn) Alloc(n int) (framelink.Slot, error) { return c.tx.Direct(n) }

// Send implements framelink.Conn: it copies p into one frame and commits
// it without waiting (small frames into the accumulator, serve_acc.go).
// Safe from any goroutine; p stays the caller's.
func (c *sconn) Send(p []byte) error { return c.send(p) }

// Echo implements framelink.Conn: the same as Send (this engine reads
// into its own buffers, and copying a frame out of them costs less than
// keeping them until the write).
func (c *sconn) Echo(p []byte) error { return c.send(p) }

// Close implements framelink.Conn: the serving goroutine writes what was
// committed, closes the connection and calls OnClose with nil. Later
// Sends return ErrClosed. Idempotent; safe from any goroutine. The flush
// is best effort: against a peer that never reads, it lasts until the
// peer goes away or Shutdown's context ends.
func (c *sconn) Close() error {
	if !c.closeReq.Swap(true) {
		_ = c.tx.Close()
		_ = c.nc.SetReadDeadline(pastDeadline)
	}
	return nil
}

// LocalAddr implements framelink.Conn.
func (c *sconn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr implements framelink.Conn.
func (c *sconn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Context implements framelink.Conn.
func (c *sconn) Context() any {
	c.userMu.Lock()
	defer c.userMu.Unlock()
	return c.userCtx
}

// SetContext implements framelink.Conn.
func (c *sconn) SetContext(v any) {
	c.userMu.Lock()
	c.userCtx = v
	c.userMu.Unlock()
}

// Stats implements framelink.Conn.
func (c *sconn) Stats() framelink.Stats {
	s := c.counters.Snapshot()
	s.QueuedBytes = c.budget.Queued()
	return s
}

// serveSource is the codec.Reader's source for a served connection: each
// read is preceded by beforeRead.
type serveSource struct {
	c   *sconn
	src io.Reader
}

func (s serveSource) Read(p []byte) (int, error) {
	if err := s.c.beforeRead(); err != nil {
		return 0, err
	}
	return s.src.Read(p)
}

// lazyServeSource is serveSource over a codec.LazySource.
type lazyServeSource struct {
	c    *sconn
	src  io.Reader
	lazy codec.LazySource
}

func (s lazyServeSource) Read(p []byte) (int, error) {
	if err := s.c.beforeRead(); err != nil {
		return 0, err
	}
	return s.src.Read(p)
}

func (s lazyServeSource) ReadLazy(get func() []byte) ([]byte, int, error) {
	if err := s.c.beforeRead(); err != nil {
		return nil, 0, err
	}
	return s.lazy.ReadLazy(get)
}

var (
	_ framelink.Conn   = (*sconn)(nil)
	_ framelink.Server = (*server)(nil)
	_ framelink.Link   = (*link)(nil)
	_ sendq.Sink       = (*connSink)(nil)
)
