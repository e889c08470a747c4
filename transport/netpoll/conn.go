//go:build !windows

package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/sendq"
)

// connCtx is the context netpoll passes to OnConnect and OnRequest: the
// callbacks find their sconn in it without a lookup.
type connCtx struct {
	context.Context
	c *sconn
}

// sconn is a served connection, the framelink.Conn handed to the Handler.
type sconn struct {
	nctx connCtx
	srv  *server
	conn netpoll.Connection
	max  uint32

	counters framelink.Counters
	budget   *sendq.Budget
	out      output
	txOnce   sync.Once
	tx       *sendq.Tx

	opened  atomic.Bool // OnOpen was called
	closing atomic.Bool // Close was called: deliver no more frames
	paused  atomic.Bool // OnRequest waits for the output to drain (pause)
	linger  atomic.Bool // Shutdown: half-close once drained, close once the peer has it all
	wrShut  atomic.Bool // the write side was shut by a lingering close
	errOnce sync.Once
	err     error // why it closed, for OnClose (set once, before conn.Close)

	// Idle timeout (r[serve.timeouts]): armed only when configured.
	idle     time.Duration
	timer    atomic.Pointer[time.Timer]
	lastSeen atomic.Int64 // UnixNano of the last frame (or open)

	fdMu   sync.Mutex
	fdGone bool // onClosed ran: the descriptor is netpoll's to close

	// OnRequest only (the pause): see readSwitch.
	rs      *readSwitch
	rsTried bool
	// aheadOff: reads are switched off because netpoll had read more
	// than inLimit ahead of OnRequest.
	aheadOff bool

	ctxMu sync.Mutex
	user  any
}

func newSconn(s *server, c netpoll.Connection) *sconn {
	o := s.o
	sc := &sconn{srv: s, conn: c, max: o.MaxFrame, idle: o.IdleTimeout}
	sc.nctx = connCtx{Context: context.Background(), c: sc}
	sc.budget = sendq.NewBudget(o.HighWater, o.LowWater)
	sc.out.init(sc, true, c, sc.budget, &sc.counters, outputLimit(o))
	// A full socket is waited for on Go's runtime poller, not with
	// netpoll's Flush, which would switch the reads of a paused
	// connection back on.
	sc.out.ownWait = true
	sc.out.batchBudget(o.LowWater)
	return sc
}

// outputFailed is told the output's error once a write failed. The output
// keeps the reason it was closed with, so ErrClosed here means the
// connection was closed on this side (Close, Shutdown) before the write
// failed: OnClose then gets nil, as for any local close.
func (c *sconn) outputFailed(err error) {
	if errors.Is(err, framelink.ErrClosed) {
		err = nil
	}
	c.fail(err)
}

func (c *sconn) outputOverflow() { c.fail(ErrOutputOverflow) }
func (c *sconn) outputDrained() {
	if c.linger.Load() {
		c.shutWrite()
		return
	}
	c.shutdown()
}

// startIdle arms the idle timer (r[serve.timeouts]); called once the
// connection is registered, before netpoll can close it.
func (c *sconn) startIdle() {
	if c.idle > 0 {
		c.lastSeen.Store(time.Now().UnixNano())
		c.timer.Store(time.AfterFunc(c.idle, c.idleCheck))
	}
}

// fail records err as the reason (the first one wins) and closes the
// connection. Safe from any goroutine; OnClose follows once netpoll has
// finished with the connection.
func (c *sconn) fail(err error) {
	c.errOnce.Do(func() { c.err = err })
	c.closing.Store(true)
	if err == nil {
		err = framelink.ErrClosed
	}
	c.out.fail(err) // later Alloc/Send return the reason
	c.shutdown()
}

// shutdown ends the connection by shutting its socket down: netpoll's
// poller sees the hang-up, removes the descriptor from epoll, wakes any
// blocked read or flush, and runs the close callbacks (onClosed) once no
// OnRequest runs; only then does netpoll close the descriptor. Calling
// netpoll's Close from here instead would close the descriptor while the
// poller may still be handling an event for it on another thread, and a
// late removal from epoll could hit a new connection that reused the
// number. Safe from any goroutine; a no-op once onClosed ran (the
// descriptor may then be closed and reused).
func (c *sconn) shutdown() {
	c.fdMu.Lock()
	if !c.fdGone {
		_ = syscall.Shutdown(c.conn.(netpoll.Conn).Fd(), syscall.SHUT_RDWR)
	}
	c.fdMu.Unlock()
}

// shutWrite is the first half of a lingering close (Shutdown): everything
// committed has reached the kernel, so the peer is sent the end of stream
// while input is still read (and discarded: closing is set). Closing the
// socket now, with the peer still sending, would make the kernel answer
// with a reset that discards the replies not yet delivered.
func (c *sconn) shutWrite() {
	c.fdMu.Lock()
	if !c.fdGone {
		_ = syscall.Shutdown(c.conn.(netpoll.Conn).Fd(), syscall.SHUT_WR)
		c.wrShut.Store(true)
	}
	c.fdMu.Unlock()
}

// delivered reports whether a lingering close may end: the write side is
// shut and the peer's kernel has acknowledged every byte and the end of
// stream (Linux; elsewhere only the peer's own close ends the linger).
func (c *sconn) delivered() bool {
	if !c.wrShut.Load() {
		return false
	}
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	return !c.fdGone && unacked(c.conn.(netpoll.Conn).Fd()) == 0
}

// Alloc implements framelink.Conn: a Slot for one frame, without waiting.
// The Slot's memory is a pool buffer copied into netpoll's Writer at
// Commit. Committing while the output is above the high-water mark closes
// the connection with ErrOutputOverflow (netpoll cannot pause reads).
// r[impl serve.reply]
func (c *sconn) Alloc(n int) (framelink.Slot, error) {
	// The sendq.Tx (and its pool of permit states) is made on first use:
	// most handlers only Send, and an idle connection should cost little.
	c.txOnce.Do(func() {
		c.tx = sendq.NewTx(&c.out, c.budget, &c.counters, c.max, nil)
	})
	return c.tx.Direct(n)
}

// Send implements framelink.Conn: p is copied once, into netpoll's Writer,
// as one frame; it never waits. Safe from any goroutine.
func (c *sconn) Send(p []byte) error {
	if err := codec.CheckSize(uint64(len(p)), c.max); err != nil {
		return err
	}
	return c.out.send(p)
}

// Echo implements framelink.Conn: the same as Send (the copy into
// netpoll's Writer is the write buffer; there is no second copy to save).
func (c *sconn) Echo(p []byte) error { return c.Send(p) }

// EchoBatch implements framelink.Conn: b's frames, as they are on the
// wire, are copied once into the output as one commit (its frames leave
// together, in order, behind what was committed before, as for Send),
// whether b is the batch being delivered to OnBatch or any other. There
// is no copy to save: as for Echo, the copy is the write buffer, and b's
// memory is not used once EchoBatch returns. A frame over MaxFrame fails
// the call with ErrFrameTooLarge and nothing is sent; an empty b sends
// nothing. Otherwise it fails as Send does (ErrClosed after Close). It
// never waits. Safe from any goroutine. r[impl serve.reply]
func (c *sconn) EchoBatch(b framelink.Batch) error {
	if uint64(b.Largest()) > uint64(c.max) {
		return tooLarge(b.Largest(), c.max)
	}
	w, n := b.Bytes(), b.Len()
	if len(w) == 0 {
		return nil
	}
	return c.out.sendWire(w, n, len(w)-n*codec.HeaderSize)
}

// tooLarge is EchoBatch's error, out of line: EchoBatch runs on netpoll's
// pooled goroutines, whose stacks start at the minimum, and its frame is
// kept small so that a batch's reply does not make each one grow.
//
//go:noinline
func tooLarge(n int, max uint32) error { return codec.CheckSize(uint64(n), max) }

// Close implements framelink.Conn: no more frames are delivered or
// accepted, the frames committed so far are flushed, then the connection
// closes and OnClose(c, nil) follows. Idempotent, any goroutine.
func (c *sconn) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	if !c.out.shutDrain(framelink.ErrClosed) {
		c.shutdown()
	}
	return nil
}

// LocalAddr implements framelink.Conn.
func (c *sconn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr implements framelink.Conn.
func (c *sconn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Context implements framelink.Conn.
func (c *sconn) Context() any {
	c.ctxMu.Lock()
	defer c.ctxMu.Unlock()
	return c.user
}

// SetContext implements framelink.Conn.
func (c *sconn) SetContext(v any) {
	c.ctxMu.Lock()
	c.user = v
	c.ctxMu.Unlock()
}

// Stats implements framelink.Conn.
func (c *sconn) Stats() framelink.Stats {
	return c.out.stats()
}

// onConnect runs in a netpoll worker goroutine before any OnRequest.
func (c *sconn) onConnect() {
	c.opened.Store(true)
	c.srv.h.OnOpen(c)
}

// onRequest is netpoll's OnRequest: it runs in a worker goroutine while
// input is buffered, and must consume it (netpoll calls it again at once
// otherwise). It delivers every whole frame buffered, zero-copy: the
// payload is a view of netpoll's input buffer (netpoll copies only a frame
// that straddles two of its buffer nodes), valid until OnFrame returns and
// released after. When only part of a frame is buffered it flushes the
// replies so far and blocks in the Reader for the rest, bounded by
// FrameTimeout (netpoll's read timeout on this connection); no goroutine
// waits on a connection that is between frames. A BatchHandler gets
// OnBatch instead, for each run of whole frames that lies in one node of
// the input buffer, up to the output's room under the high-water mark
// (but one frame; batch.go); a frame waited for is a batch of its own.
// The pause and read-ahead checks come between batches, as between
// frames. r[impl serve.handler]
// r[impl wire.max] r[impl wire.truncated]
func (c *sconn) onRequest() {
	r := c.conn.Reader()
	h, bh := c.srv.h, c.srv.bh
	c.out.beginBatch()
	// Frames and bytes received are counted once per batch, by
	// finishBatch.
	var frames, bytes uint64
	for !c.closing.Load() {
		l := r.Len()
		if l == 0 {
			break
		}
		if c.budget.Over() {
			// Output over the high-water mark: wait for it to drain
			// before the next frame (r[serve.reply]).
			if !c.pause(r) {
				break
			}
			continue
		}
		// netpoll reads ahead of OnRequest as fast as the peer sends: past
		// the input limit its reads are switched off until OnRequest has
		// caught up (half the limit), so a fast sender with a slow
		// handler is held off by the TCP window, not buffered.
		if l > c.srv.inLimit {
			c.readAhead(false)
		} else if c.aheadOff && l < c.srv.inLimit/2 {
			c.readAhead(true)
		}
		if l < codec.HeaderSize {
			c.beforeWait(r)
		}
		hdr, err := r.Peek(codec.HeaderSize)
		if err != nil {
			c.readFailed(err, r)
			break
		}
		// The limit is checked on the 4 header bytes: an oversize frame is
		// never awaited or buffered further.
		_, advance, need, err := codec.Split(hdr, c.max)
		if err != nil {
			c.counters.Oversize.Add(1)
			c.fail(err)
			break
		}
		total := advance + need
		// l, read before, is a lower bound of what is buffered now.
		waited := false
		if l < total && r.Len() < total {
			c.beforeWait(r)
			waited = true
		}
		if bh != nil {
			// A frame waited for, or with no other frame's header
			// buffered behind it (the usual case with one frame in
			// flight), is a batch of its own, taken with one Next as
			// below; otherwise takeBatch cuts the batch from what is
			// buffered. (Inline, not a helper: the handler runs on
			// netpoll's pooled goroutines, whose stacks start small, and
			// a deeper call chain than OnFrame's made each request grow
			// its stack: 10% more CPU per frame at one frame in flight.)
			var b framelink.Batch
			if avail := r.Len(); waited || avail < total+codec.HeaderSize {
				var p []byte
				if p, err = r.Next(total); err == nil {
					b = framelink.CutBatch(p, c.max, 0)
				}
			} else {
				b, err = c.takeBatch(r, total, avail, c.out.room(c.srv.o.HighWater))
			}
			if err != nil {
				c.readFailed(err, r)
				break
			}
			frames += uint64(b.Len())
			bytes += uint64(len(b.Bytes()) - b.Len()*codec.HeaderSize)
			if c.idle > 0 {
				c.lastSeen.Store(time.Now().UnixNano())
			}
			bh.OnBatch(c, b)
			continue
		}
		b, err := r.Next(total)
		if err != nil {
			c.readFailed(err, r)
			break
		}
		frames++
		bytes += uint64(total - codec.HeaderSize)
		if c.idle > 0 {
			c.lastSeen.Store(time.Now().UnixNano())
		}
		h.OnFrame(c, b[codec.HeaderSize:])
	}
	if c.closing.Load() {
		// Closing (maybe waiting for the output to drain): input is
		// discarded, or netpoll would call OnRequest again at once.
		_ = r.Skip(r.Len())
	}
	c.readAhead(true)
	_ = r.Release()
	c.out.finishBatch(frames, bytes)
	if h := c.srv.requestHook.Load(); h != nil {
		(*h)(c)
	}
}

// readAhead switches netpoll's reads back on (true) or off for read-ahead
// (see onRequest). OnRequest only.
func (c *sconn) readAhead(on bool) {
	if c.aheadOff != on {
		return
	}
	if c.readSwitch() == nil {
		return
	}
	c.aheadOff = !on
	c.setReadsOff(c.aheadOff)
}

// beforeWait runs before OnRequest blocks for the rest of a frame: the
// input consumed so far is released and the replies so far go out.
func (c *sconn) beforeWait(r netpoll.Reader) {
	c.readAhead(true) // the rest of the frame has to be read
	_ = r.Release()
	c.out.endBatch()
	c.out.beginBatch()
}

// readFailed handles an error from a blocking read inside OnRequest and
// closes the connection (netpoll would call OnRequest again forever on
// unconsumed input otherwise).
func (c *sconn) readFailed(err error, r netpoll.Reader) {
	err = readErr(err, r.Len() > 0)
	switch {
	case errors.Is(err, framelink.ErrClosed):
		err = nil // closed here; the reason, if any, is already recorded
	case errors.Is(err, io.EOF):
		err = nil // cannot happen with bytes pending; clean end otherwise
	}
	if err == nil {
		c.closing.Store(true)
		c.shutdown()
		// netpoll calls OnRequest again while input is unread and the
		// connection is not closed by "the user": mark it so.
		_ = c.conn.Close()
		return
	}
	c.fail(err)
}

// idleCheck is the idle timer's function: close the connection if no frame
// arrived for IdleTimeout, else re-arm for the remainder.
// r[impl serve.timeouts]
func (c *sconn) idleCheck() {
	if c.closing.Load() {
		return
	}
	if c.paused.Load() {
		// Waiting for the peer to read is not idleness; pause restarts
		// the clock when it ends.
		if t := c.timer.Load(); t != nil {
			t.Reset(c.idle)
		}
		return
	}
	since := time.Duration(time.Now().UnixNano() - c.lastSeen.Load())
	if since >= c.idle {
		c.fail(deadlineError("idle timeout"))
		return
	}
	if t := c.timer.Load(); t != nil {
		t.Reset(c.idle - since)
	}
}

// onClosed is the connection's close callback: netpoll calls it once, after
// the last OnRequest returned and before it frees the buffers (on the
// worker goroutine, or on netpoll's hang-up goroutine).
//
// The input may still hold frames no OnRequest has seen: netpoll v0.7.2's
// worker, finding the input empty, releases the connection's processing
// lock and only then looks again for input read meanwhile; if the poller
// reads the peer's last bytes and then its end of stream in that window,
// the worker (or the hang-up handling) runs the close callbacks without
// another OnRequest. Unless the connection was closing already (Close,
// Shutdown, an error, or a pause the peer's end ended), those frames are
// delivered here (deliverRest: OnFrame, or OnBatch for a BatchHandler)
// before OnClose, so the handler sees every
// whole frame the peer sent before its end of stream (r[wire.eof]); their
// replies fail with ErrClosed (the output is closed first: the peer is
// gone). OnClose then gets nil, or io.ErrUnexpectedEOF if part of a frame
// remains (r[wire.truncated]).
// r[impl serve.handler] r[impl wire.eof] r[impl wire.truncated]
func (c *sconn) onClosed() {
	c.fdMu.Lock()
	c.fdGone = true
	c.fdMu.Unlock()
	c.out.closeWait(framelink.ErrClosed)
	c.budget.Close(framelink.ErrClosed)
	if t := c.timer.Load(); t != nil {
		t.Stop()
	}
	if c.opened.Load() {
		c.deliverRest()
	}
	c.closing.Store(true)
	if c.opened.Load() {
		c.errOnce.Do(func() {})
		c.srv.h.OnClose(c, c.err)
	}
	c.srv.remove(c)
}

// deliverRest delivers, from the close callback, the whole frames the
// input still holds (see onClosed), as onRequest would, without waiting
// for input: what netpoll holds now is all there will be (to a
// BatchHandler in batches, as onRequest cuts them). It stops when
// the connection is closing (a Close, maybe by the handler, or an
// error), and records io.ErrUnexpectedEOF if part of a frame remains.
func (c *sconn) deliverRest() {
	r := c.conn.Reader()
	h, bh := c.srv.h, c.srv.bh
	var frames, bytes uint64
	c.out.beginBatch()
	for !c.closing.Load() {
		l := r.Len()
		if l == 0 {
			break
		}
		if l < codec.HeaderSize {
			c.errOnce.Do(func() { c.err = io.ErrUnexpectedEOF })
			break
		}
		hdr, err := r.Peek(codec.HeaderSize)
		if err != nil {
			c.fail(readErr(err, true))
			break
		}
		_, advance, need, err := codec.Split(hdr, c.max)
		if err != nil {
			c.counters.Oversize.Add(1)
			c.fail(err)
			break
		}
		total := advance + need
		if l < total {
			c.errOnce.Do(func() { c.err = io.ErrUnexpectedEOF })
			break
		}
		if bh != nil {
			b, err := c.takeBatch(r, total, l, c.out.room(c.srv.o.HighWater))
			if err != nil {
				c.fail(readErr(err, true))
				break
			}
			frames += uint64(b.Len())
			bytes += uint64(len(b.Bytes()) - b.Len()*codec.HeaderSize)
			bh.OnBatch(c, b)
			continue
		}
		b, err := r.Next(total)
		if err != nil {
			c.fail(readErr(err, true))
			break
		}
		frames++
		bytes += uint64(total - codec.HeaderSize)
		h.OnFrame(c, b[codec.HeaderSize:])
	}
	_ = r.Release()
	c.out.finishBatch(frames, bytes)
}
