//go:build !windows

package netpoll

import (
	"errors"
	"math"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// Pausing a served connection whose output is over the high-water mark
// (r[serve.reply]). netpoll has no way to stop its poller reading a
// socket, so "pause" here means: OnRequest, which runs on a netpoll worker
// goroutine, stops delivering frames and waits for the output to drain,
// while the input netpoll keeps reading is held, up to inputLimit.

// Poll interval of a paused OnRequest for the output to drain. netpoll's
// blocking read cannot be woken by anything but input, a close or its
// read timeout, so the paused worker waits in the Reader for the input
// limit with the read timeout as its clock: it starts short, for a peer
// that reads (its output drains in milliseconds), and doubles up to the
// maximum, for a peer that does not (a few wake-ups a second).
const (
	pausePollMin = 500 * time.Microsecond
	pausePollMax = 50 * time.Millisecond
)

// netpollMaxRead is the most netpoll reads from a socket in one go (its
// mallocMax): a paused connection's input can pass inputLimit by that
// much before the paused worker sees it. In practice one read is at most
// what the socket's receive buffer held.
const netpollMaxRead = 8 << 20

// inputLimit is the most input a paused connection holds: 8×HighWater, or
// HighWater plus two largest frames with their headers if that is more
// (36 MiB with the defaults). Where reads can be paused, the kernel holds
// a paused connection's input instead, in a receive buffer that Linux
// grows up to net.ipv4.tcp_rmem's maximum (6 to 32 MiB); 8×HighWater
// keeps netpoll in that range whatever MaxFrame is, and two frames fit
// whatever HighWater is. A peer that pipelines less than that ahead of its
// reads is never closed, however slowly it reads; one that stops reading
// is closed with ErrOutputOverflow once it sent that much.
func inputLimit(o framelink.Options) int {
	hw := int64(o.HighWater)
	return clampInt(max(8*hw, hw+2*(int64(o.MaxFrame)+codec.HeaderSize)))
}

// outputLimit is the most output a served connection queues before a
// commit is refused (output.high): twice the high-water mark plus one
// largest frame. Replies sent from OnFrame stop at HighWater plus the
// replies to one frame (the next frame waits for the drain); the limit
// catches handlers that reply in bulk or send from other goroutines to a
// peer that does not read, with room for a frame of any size sent from
// another goroutine while replies are queued.
func outputLimit(o framelink.Options) int {
	return clampInt(2*int64(o.HighWater) + int64(o.MaxFrame) + codec.HeaderSize)
}

// readSwitch returns the connection's read switch, made the first time
// it is needed (nil if reads cannot be switched off). OnRequest only.
func (c *sconn) readSwitch() *readSwitch {
	if !c.rsTried {
		c.rsTried = true
		if !c.srv.noReadSwitch.Load() {
			c.fdMu.Lock()
			if !c.fdGone {
				c.rs = newReadSwitch(c.conn, func() bool { return c.fdGone })
			}
			c.fdMu.Unlock()
		}
	}
	return c.rs
}

// setReadsOff switches netpoll's reads of the socket off or back on.
func (c *sconn) setReadsOff(off bool) {
	c.fdMu.Lock()
	c.rs.setOff(off)
	c.fdMu.Unlock()
}

func clampInt(v int64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	return int(v)
}

// pause is called by onRequest before it delivers a frame while the
// output is over the high-water mark (budget.Over, which stays set until
// the output is under the low-water mark). It flushes the replies so far
// and waits, on this worker goroutine, until the output is under the
// low-water mark, with netpoll's reads of the socket switched off
// (readSwitch), so the peer's bytes wait in the kernel and the TCP window
// stops the peer. Where reads cannot be switched off, it holds what
// netpoll reads meanwhile, up to inputLimit. It reports whether onRequest
// may deliver frames again; if not, the connection is closing:
//
//   - reads could not be switched off and the input held reached
//     inputLimit: closed with ErrOutputOverflow;
//   - the peer went away (netpoll's EOF): closed with errPeerClosed, as the
//     replies queued cannot be delivered;
//   - the connection was closed meanwhile (Close, Shutdown, a failed
//     write).
//
// FrameTimeout and IdleTimeout do not run while paused (pause is only
// called between frames; the idle timer re-arms while paused).
// r[impl serve.reply]
func (c *sconn) pause(r netpoll.Reader) bool {
	// Release the input consumed so far and write the replies; no batch
	// is open while paused, so a frame committed meanwhile from another
	// goroutine starts a writer at once (with a batch open it would wait
	// for the batch's end, and a frame over the high-water mark by itself
	// would keep the budget over with nobody writing it).
	_ = r.Release()
	c.out.endBatch()
	c.paused.Store(true)
	hook := c.srv.pauseHook.Load()
	if hook != nil {
		(*hook)(true, r.Len())
	}
	limit := inputLimit(c.srv.o)
	sw := c.readSwitch()
	base := 0
	if sw != nil {
		c.setReadsOff(true)
		defer func() { c.setReadsOff(c.aheadOff) }()
		base = r.Len()
	}
	d := pausePollMin
	ok := true
	for c.budget.Over() {
		if c.closing.Load() {
			ok = false
			break
		}
		_ = c.conn.SetReadTimeout(d)
		var err error
		if sw != nil && sw.isOff() {
			// netpoll does not read: the peer's bytes wait in the kernel.
			// The Reader is only the clock (and wakes at a close); the
			// input held cannot grow, however much it is.
			_, err = r.Peek(r.Len() + 1)
			if err == nil {
				// A read the poller had begun before reads went off
				// may still land; more means they are on after all:
				// hold the input up to the limit then.
				if r.Len() > base+netpollMaxRead {
					sw = nil
				}
				continue
			}
		} else {
			// netpoll keeps reading: wait until limit bytes are
			// buffered, the connection ends or d passes; Skip (unlike
			// Peek) never copies, and the bytes it consumes are
			// discarded anyway, as the connection then closes.
			err = r.Skip(limit)
		}
		if err == nil {
			if hook != nil {
				(*hook)(false, limit+r.Len())
			}
			c.fail(ErrOutputOverflow)
			ok = false
			break
		}
		if errors.Is(err, netpoll.ErrReadTimeout) {
			d = min(2*d, pausePollMax)
			continue
		}
		if errors.Is(err, netpoll.ErrEOF) {
			c.fail(errPeerClosed)
		} else {
			c.readFailed(err, r)
		}
		ok = false
		break
	}
	// Back to FrameTimeout (netpoll's read timeout of every connection).
	_ = c.conn.SetReadTimeout(c.srv.o.FrameTimeout)
	if ok && hook != nil {
		(*hook)(false, r.Len())
	}
	if c.idle > 0 {
		c.lastSeen.Store(time.Now().UnixNano())
	}
	c.paused.Store(false)
	c.out.beginBatch()
	return ok
}
