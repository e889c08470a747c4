package netstd

import (
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// accSize is the capacity of a served connection's send accumulator:
// Conn.Send appends frames of up to half of it into one pool buffer, so
// a handler's replies cost one copy each and share one write, with no
// permit or slot per frame.
const accSize = 32 << 10

// send is Conn.Send. A small frame is appended to the accumulator (c.acc,
// guarded by accMu); a large one goes through the Tx as a Direct slot.
// Every commit to the Queue (a slot's, and the accumulator's own) is made
// under accMu with the accumulator committed first, so frames leave in
// the order they were committed on any path. The accumulator's bytes join
// the budget when it is committed: when full, before a slot's frame, and
// when the serving goroutine flushes.
func (c *sconn) send(p []byte) error {
	n := codec.HeaderSize + len(p)
	if n > accSize/2 || uint64(len(p)) > uint64(c.s.opts.MaxFrame) {
		return c.tx.SendDirect(p) // also reports the size errors
	}
	c.accMu.Lock()
	if c.tx.Closed() {
		c.accMu.Unlock()
		return framelink.ErrClosed
	}
	if cap(c.acc)-len(c.acc) < n {
		if err := c.commitAccLocked(); err != nil {
			c.accMu.Unlock()
			return err
		}
	}
	if c.acc == nil {
		c.acc = pool.Get(accSize)[:0]
	}
	c.acc = codec.AppendFrame(c.acc, p)
	c.accMu.Unlock()
	c.counters.Out(len(p))
	if !c.inLoop.Load() {
		c.kick()
	}
	return nil
}

// commitAccLocked moves the accumulator, if it holds frames, to the
// Queue. The caller holds accMu.
func (c *sconn) commitAccLocked() error {
	acc := c.acc
	if acc == nil {
		return nil
	}
	c.acc = nil
	if len(acc) == 0 {
		pool.Put(acc)
		return nil
	}
	return c.q.Commit(acc) // on error the Queue gave acc back to the pool
}

// commitAcc is commitAccLocked taking accMu.
func (c *sconn) commitAcc() error {
	c.accMu.Lock()
	err := c.commitAccLocked()
	c.accMu.Unlock()
	return err
}
