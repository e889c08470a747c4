//go:build unix

package gnet

import (
	"errors"
	"io"
	"math"

	gn "github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// assembleMin is the smallest frame (header included) that is assembled
// in a pool buffer of its own size as its bytes arrive, rather than left
// in gnet's inbound ring until whole: that ring grows by doubling and
// would hold up to twice a large frame. It is gnet's default read buffer
// size (the Dial engine's), so there a frame that fits one read never
// takes this path.
const assembleMin = 64 << 10

// inputSlack is how much input beyond HighWater a paused connection may
// hold before it is closed with ErrOverflow: the read that crossed the
// mark plus one read gnet may make before the pause is re-applied (server
// engines read up to readBufferCap at a time, Dial's 64 KiB).
const inputSlack = 2 * readBufferCap

// service is everything the loop does for c: account for drained output,
// decode every whole frame available unless paused, write what was
// committed in one batch, finish a half-close, apply or lift a read pause,
// and arm the timeouts. It runs on c's loop: from OnTraffic, from a kick,
// or from the ticker. It returns gn.Close when c must be closed.
func (c *conn) service(traffic bool) gn.Action {
	c.syncOut()
	if c.rx != nil {
		// A push connection enters the run in beginWindow, with the
		// window; a pull link's commits come from other goroutines.
		c.enterLoop()
	}
	e := c.e
	if c.rx == nil && e.shutting.Load() {
		return c.serviceShutdown()
	}
	if e.timeouts {
		c.now = e.clock()
	}
	paused := c.paused()
	if !paused && c.wasPaused {
		c.resumed()
	}
	// Decode, write the replies, and decode again if writing them
	// brought the output back under the mark: input already buffered
	// gets no other callback.
	for {
		again := false
		if !paused && !c.userClosed.Load() {
			again = c.decode()
		}
		if c.dead {
			return gn.None
		}
		c.flush()
		if c.dead {
			return gn.None
		}
		paused = c.paused()
		if !again || paused || c.closeErr != nil {
			break
		}
		// Decoding again: sends join the batch the next flush writes.
		c.enterLoop()
	}
	if c.closeErr == nil && c.lCloseAsked {
		return gn.Close
	}
	if c.closeErr == nil && paused && c.gc.InboundBuffered() > c.heldLimit() {
		// r[impl serve.reply]: the documented bound on held input.
		c.closeErr = ErrOverflow
	}
	if c.closeErr == nil && e.timeouts && !paused {
		c.checkTimeouts()
	}
	if c.closeErr != nil {
		return gn.Close
	}
	c.maybeShutWrite()
	// r[impl serve.reply] r[impl link.tx.backpressure]: pause reads while
	// the output is over its high-water mark (or the receive queue is
	// full); gnet may switch them back on behind our back when its
	// outbound buffer changes state, so a paused conn re-applies it.
	if paused {
		if c.gnetOut > 0 || c.gc.InboundBuffered() > 0 {
			c.noteHeld()
		}
		if canPause && !e.noPause.Load() && (traffic || !c.readOff || c.gnetOut > 0) {
			c.readOff = setReadEvents(c, false)
		}
	} else if c.readOff {
		setReadEvents(c, true)
		c.readOff = false
	}
	c.wasPaused = paused
	c.setWatched(c.gnetOut > 0 || (c.lTxClosing && !c.shutWR))
	if e.timeouts {
		c.armTimeouts(paused)
	}
	return gn.None
}

// heldLimit is the most input a paused connection holds before it is
// closed with ErrOverflow. With read events switched off, input only
// slips in when gnet switches them back on, once each time its outbound
// buffer changes between empty and not empty, which takes a peer that
// reads (a peer that does not read leaves it not empty): a slow reader
// can so add a read at a time over a long pause, and is closed only past
// max(8×HighWater, HighWater + 2×(MaxFrame+4)) (36 MiB by default, the
// bound of netpoll's fallback; about what Linux lets a socket's receive
// buffer grow to), and never under the fallback's bound. In the
// fallback, where reads stay on, the bound is HighWater plus two reads.
func (c *conn) heldLimit() int {
	tight := c.opts.HighWater + inputSlack
	if c.readOff {
		hw := int64(c.opts.HighWater)
		return int(min(max(int64(tight), 8*hw, hw+2*(int64(c.opts.MaxFrame)+4)), math.MaxInt32))
	}
	return tight
}

// paused reports whether c must not decode now: on a push connection,
// its output is over the high-water mark (hysteresis down to the
// low-water mark: replies are made from input, r[serve.reply]); on a pull
// link, its receive queue is full (its output only blocks Reserve: the
// halves are independent, r[link.split]); or the server is shutting down.
func (c *conn) paused() bool {
	if c.draining {
		return false
	}
	if c.rx != nil {
		return c.rx.over.Load() || c.e.shutting.Load()
	}
	return c.budget.Over() || c.e.shutting.Load()
}

// noteHeld records the most output and held input seen while paused
// (for the tests' memory bounds).
func (c *conn) noteHeld() {
	if q := c.budget.Queued(); q > c.maxQueued.Load() {
		c.maxQueued.Store(q)
	}
	if n := int64(c.gc.InboundBuffered()); n > c.maxHeld.Load() {
		c.maxHeld.Store(n)
	}
}

func (c *conn) closeAsked0() bool {
	c.mu.Lock()
	v := c.closeAsked
	c.mu.Unlock()
	return v
}

// resumed restarts the timeouts after a pause: a paused connection was
// not idle by its own doing.
func (c *conn) resumed() {
	c.lastFrame = c.now
	if c.frameStart != 0 {
		c.frameStart = c.now
	}
}

// maybeShutWrite completes Tx.Close once every committed byte reached the
// kernel.
func (c *conn) maybeShutWrite() {
	if c.shutWR || c.gnetOut > 0 || !c.lTxClosing {
		return
	}
	c.mu.Lock()
	empty := c.pending == nil && !c.writing
	c.mu.Unlock()
	if !empty {
		return
	}
	c.shutWR = true
	var err error
	if e := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); e != nil {
		err = e
	}
	c.finishTx(err)
}

// decode hands over every whole frame gnet holds for c: gnet calls
// OnTraffic only when new bytes arrive, so nothing may be left that could
// be delivered now. A frame that is contiguous in gnet's memory is passed
// as a view (Peek) and Discarded after the callback; a large frame is
// assembled in a pool buffer as it arrives. A BatchHandler gets the whole
// frames of the window at once (as many as the output has room for).
// r[impl wire.max] r[impl serve.handler] r[impl transport.gnet]
//
// It reports whether it stopped because the connection became paused with
// input left to decode.
func (c *conn) decode() (pausedEarly bool) {
	gc := c.gc
	max := c.opts.MaxFrame
	for !c.dead && !c.userClosed.Load() {
		avail := gc.InboundBuffered()
		if c.partial != nil {
			if avail == 0 {
				return false
			}
			n, _ := gc.Read(c.partial[c.have:])
			c.have += n
			if c.have < len(c.partial) {
				return false
			}
			p := c.partial
			c.partial, c.have = nil, 0
			c.frameDone()
			c.enterLoop()
			c.deliverOwned(p)
			if c.paused() {
				return gc.InboundBuffered() > 0
			}
			continue
		}
		if avail < codec.HeaderSize {
			if avail > 0 {
				c.frameStarted()
			}
			return false
		}
		// One window over everything buffered (contiguous in gnet's read
		// buffer, or gathered by gnet if its ring wrapped), walked frame
		// by frame, Discarded once.
		win, err := gc.Peek(avail)
		if err != nil {
			return false
		}
		// Echoes of frames in win are written from it before it is
		// Discarded (echo.go): every exit below goes through finishWindow.
		room := c.beginWindow(win)
		done := 0
		for {
			if bh := c.e.bh; bh != nil {
				if b := framelink.CutBatch(win[done:], max, int(min(room, math.MaxInt32))); b.Len() > 0 {
					// r[impl serve.handler]: one OnBatch for the run.
					c.frameDone()
					c.deliverBatch(bh, b)
					done += len(b.Bytes())
					if c.dead {
						return false
					}
					if c.userClosed.Load() || c.paused() {
						if !c.finishWindow(done) {
							return false
						}
						return gc.InboundBuffered() > 0 && !c.userClosed.Load()
					}
					if done == len(win) {
						// The usual end: the window (everything gnet
						// held) ended on a frame boundary.
						c.finishWindow(done)
						return false
					}
					room = c.outputRoom()
					continue
				}
			}
			p, adv, need, err := codec.Split(win[done:], max)
			if err != nil {
				// Closed at once; the declared size is never buffered.
				c.counters.Oversize.Add(1)
				c.closeErr = err
				c.finishWindow(done)
				return false
			}
			if p == nil {
				if need > assembleMin {
					// Assemble in a frame-sized pool buffer as it arrives.
					// A BatchHandler's frame is assembled with its
					// header, to be handed over as a batch of one.
					hdr := 0
					if c.e.bh != nil {
						hdr = codec.HeaderSize
					}
					part := pool.Get(need - codec.HeaderSize + hdr)
					copy(part, win[done:done+hdr])
					if !c.finishWindow(done + codec.HeaderSize) {
						pool.Put(part)
						return false
					}
					c.partial, c.have = part, hdr
					c.frameStarted()
					break
				}
				if done < len(win) {
					c.frameStarted()
				}
				c.finishWindow(done)
				return false
			}
			c.frameDone()
			c.deliverView(win[done : done+adv])
			done += adv
			if c.dead {
				return false
			}
			if c.userClosed.Load() || c.paused() {
				if !c.finishWindow(done) {
					return false
				}
				return gc.InboundBuffered() > 0 && !c.userClosed.Load()
			}
		}
	}
	return false
}

// finishWindow ends the walk over the Peeked window, writing its echoes
// (endWindow), and consumes n bytes of it. It reports false if writing
// closed c (nothing is left to consume then).
func (c *conn) finishWindow(n int) bool {
	c.endWindow()
	if c.dead {
		return false
	}
	discard(c.gc, n)
	return true
}

// discard consumes n bytes; gnet's Discard(0) would drop everything.
func discard(gc gn.Conn, n int) {
	if n > 0 {
		_, _ = gc.Discard(n)
	}
}

func (c *conn) frameStarted() {
	if c.frameStart == 0 {
		c.frameStart = c.now | 1 // never 0 while a frame is in progress
	}
}

func (c *conn) frameDone() {
	c.frameStart = 0
	c.lastFrame = c.now
}

// deliverView hands over one whole frame, wire (header included), that
// points into gnet's memory: the handler sees it until OnFrame (or
// OnBatch) returns; a pull link copies its payload into a pool buffer.
func (c *conn) deliverView(wire []byte) {
	p := wire[codec.HeaderSize:]
	if c.rx != nil {
		c.counters.In(len(p))
		b := pool.Get(len(p))
		copy(b, p)
		c.rx.push(b)
		return
	}
	if bh := c.e.bh; bh != nil {
		c.deliverBatch(bh, framelink.CutBatch(wire, c.opts.MaxFrame, 0))
		return
	}
	c.runFrames++
	c.runBytes += len(p)
	c.e.h.OnFrame(c, p)
}

// deliverBatch hands b, whole frames in gnet's memory or in a pool
// buffer, to OnBatch.
func (c *conn) deliverBatch(bh framelink.BatchHandler, b framelink.Batch) {
	c.runFrames += b.Len()
	c.runBytes += len(b.Bytes()) - b.Len()*codec.HeaderSize
	bh.OnBatch(c, b)
}

// outputRoom is how many more bytes c's output takes before its
// high-water mark (loop).
func (c *conn) outputRoom() int64 {
	c.mu.Lock()
	r := c.outputRoomLocked()
	c.mu.Unlock()
	return r
}

func (c *conn) outputRoomLocked() int64 {
	return int64(c.opts.HighWater) - c.budget.Queued() - int64(c.unacct)
}

// publishInLocked adds the push frames delivered during this loop run to
// c.inFrames, which Stats reads (c.mu held; loop). flush does it with the
// lock it takes anyway, so a run costs no atomic update for counting.
func (c *conn) publishInLocked() {
	c.inFrames += c.runFrames
	c.inBytes += c.runBytes
	c.runFrames, c.runBytes = 0, 0
}

// enterLoop marks the start of a loop run's handler calls (loop): commits
// made meanwhile join the batch the run's flush writes.
func (c *conn) enterLoop() {
	c.mu.Lock()
	c.enterLoopLocked()
	c.mu.Unlock()
}

func (c *conn) enterLoopLocked() {
	c.inLoop = true
	if c.gnetOut == 0 && !c.writing {
		c.gnetBusy = false
	}
}

// deliverOwned hands a frame assembled in a pool buffer: the payload
// alone, or for a BatchHandler the whole frame, header included.
func (c *conn) deliverOwned(buf []byte) {
	if c.rx != nil {
		c.counters.In(len(buf))
		c.rx.push(buf)
		return
	}
	if bh := c.e.bh; bh != nil {
		c.counters.In(len(buf) - codec.HeaderSize)
		bh.OnBatch(c, framelink.CutBatch(buf, c.opts.MaxFrame, 0))
	} else {
		c.counters.In(len(buf))
		c.e.h.OnFrame(c, buf)
	}
	pool.Put(buf)
}

// checkTimeouts closes c if its frame or idle timeout expired.
// r[impl serve.timeouts]
func (c *conn) checkTimeouts() {
	ft, it := int64(c.opts.FrameTimeout), int64(c.opts.IdleTimeout)
	switch {
	case ft > 0 && c.frameStart != 0 && c.now-c.frameStart >= ft:
		c.closeErr = timeoutError("frame", c.opts.FrameTimeout)
	case it > 0 && c.now-c.lastFrame >= it:
		c.closeErr = timeoutError("idle", c.opts.IdleTimeout)
	}
}

// armTimeouts publishes the next deadline for the ticker.
func (c *conn) armTimeouts(paused bool) {
	var dl int64
	if !paused {
		ft, it := int64(c.opts.FrameTimeout), int64(c.opts.IdleTimeout)
		if it > 0 {
			dl = c.lastFrame + it
		}
		if ft > 0 && c.frameStart != 0 {
			if d := c.frameStart + ft; dl == 0 || d < dl {
				dl = d
			}
		}
	}
	c.deadline.Store(dl)
}

// onClose runs on the loop when gnet closes c, for whatever reason. err
// is gnet's: nil for a local close or an engine stop, io.EOF (maybe
// wrapped) for the peer's end of stream, else the OS error.
// r[impl wire.eof] r[impl wire.truncated] r[impl link.rx.eof] r[impl link.rx.error]
func (c *conn) onClose(err error) {
	peerEOF := err != nil && errors.Is(err, io.EOF)
	// A pull link whose write failed because the peer is gone (EPIPE,
	// ECONNRESET): gnet tries its pending write before reading, so input
	// the peer sent before its end of stream and reset (a server that
	// shut down after its replies were acknowledged) may still sit in the
	// kernel. It is delivered before the error, like at end of stream.
	peerGone := c.rx != nil && err != nil && (errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET))
	truncated0 := false
	if (peerEOF || peerGone) && c.closeErr == nil && !c.userClosed.Load() && !c.e.shutting.Load() {
		// The stream ended: every whole frame still held is delivered,
		// paused or not (its memory is already bounded).
		c.mu.Lock()
		c.inLoop = true
		c.mu.Unlock()
		c.draining = true
		c.decode()
		tail := c.drainKernel()
		c.draining = false
		if peerEOF {
			c.flush()
		}
		truncated0 = tail
	}
	truncated := truncated0 || c.partial != nil || c.gc.InboundBuffered() > 0
	cause := c.closeErr
	if cause == nil && !c.closeAsked0() {
		switch {
		case err == nil:
		case peerEOF:
			if truncated {
				cause = io.ErrUnexpectedEOF
			} else {
				cause = io.EOF
			}
		default:
			cause = err
		}
	}
	if cause == io.EOF && c.rx != nil && c.closeErr == nil && c.gc.OutboundBuffered() == 0 && c.rescue() {
		// The link lives on, write-only (rescue.go).
		c.dead = true
		c.setWatched(false)
		c.deadline.Store(0)
		c.e.unregister(c)
		c.rx.fail(io.EOF, false)
		return
	}
	c.dead = true
	c.mu.Lock()
	c.closed = true
	c.win, c.spanLo, c.spanHi = nil, 0, 0
	c.unacct = 0 // never added to the budget, which is emptied below
	c.waitDirectWriterLocked()
	c.publishInLocked()
	bp := c.pending
	c.pending, c.pendOff = nil, 0
	c.mu.Unlock()
	if bp != nil {
		for i, f := range *bp {
			pool.Put(f)
			(*bp)[i] = nil
		}
		*bp = (*bp)[:0]
		batchPool.Put(bp)
	}
	if c.partial != nil {
		pool.Put(c.partial)
		c.partial, c.have = nil, 0
	}
	c.budget.Sub(int(c.budget.Queued()))
	c.gnetOut = 0
	sendErr := framelink.ErrClosed
	if cause != nil && cause != io.EOF {
		sendErr = closedBy(cause)
	}
	c.budget.Close(sendErr)
	c.finishTx(sendErr)
	c.setWatched(false)
	c.deadline.Store(0)
	c.e.unregister(c)
	if c.rx != nil {
		if cause == nil {
			cause = framelink.ErrClosed
		}
		c.rx.fail(cause, false)
		close(c.closedCh)
		return
	}
	if cause == io.EOF {
		cause = nil
	}
	c.e.h.OnClose(c, cause)
}

// drainKernel reads, at the peer's end of stream, what the kernel still
// holds for c (on the loop, in onClose, the descriptor still open) and
// delivers its whole frames. gnet reports a hang-up without reading when
// the socket is fully shut while its read events are off (a paused
// connection whose own write side was shut), so without this, frames the
// peer sent before its FIN would be lost. Memory is bounded by the
// kernel's receive buffer plus one frame. It reports whether an
// incomplete frame remains (truncation).
func (c *conn) drainKernel() (incomplete bool) {
	gc := c.gc
	var carry []byte
	if n := gc.InboundBuffered(); n > 0 && c.partial == nil {
		b, err := gc.Peek(n)
		if err == nil {
			carry = append(carry, b...)
			discard(gc, n)
		}
	}
	tmp := pool.Get(64 << 10)
	defer pool.Put(tmp)
	for c.closeErr == nil {
		n, err := unix.Read(c.fd, tmp)
		if n <= 0 || err != nil {
			break
		}
		p := tmp[:n]
		if c.partial != nil {
			k := copy(c.partial[c.have:], p)
			c.have += k
			p = p[k:]
			if c.have < len(c.partial) {
				continue
			}
			f := c.partial
			c.partial, c.have = nil, 0
			c.deliverOwned(f)
		}
		carry = append(carry, p...)
		off := 0
		for {
			pl, adv, _, err := codec.Split(carry[off:], c.opts.MaxFrame)
			if err != nil {
				c.counters.Oversize.Add(1)
				c.closeErr = err
				return false
			}
			if pl == nil {
				break
			}
			c.deliverView(carry[off : off+adv])
			off += adv
		}
		carry = carry[:copy(carry, carry[off:])]
	}
	return len(carry) > 0
}

// closedBy is the error of sends after the connection failed: it matches
// framelink.ErrClosed and the cause.
func closedBy(cause error) error { return &closedError{cause} }

type closedError struct{ cause error }

func (e *closedError) Error() string   { return framelink.ErrClosed.Error() + ": " + e.cause.Error() }
func (e *closedError) Unwrap() []error { return []error{framelink.ErrClosed, e.cause} }
