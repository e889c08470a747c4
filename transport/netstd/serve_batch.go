package netstd

import (
	"math"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// Batches for a framelink.BatchHandler.
//
// The serving goroutine asks its codec.Reader for a batch instead of a
// frame (Reader.NextBatch): every whole frame its read buffer holds at
// the current position, as they came off the wire, up to the output's
// room (at least one frame), a view valid until the next call; a frame
// larger than the read buffer comes alone, read behind its header into a
// pooled buffer of its own. OnBatch gets that batch as it is.

// room is how many bytes the output takes before its high-water mark:
// HighWater less what is queued and what the Send accumulator holds. The
// loop takes it just before NextBatch, after writing out what the
// callbacks committed if NextBatch is to read; frames committed from
// other goroutines while it reads kick the read, and the loop takes the
// room again. Only the serving goroutine calls it.
func (c *sconn) room() int {
	c.accMu.Lock()
	acc := len(c.acc)
	c.accMu.Unlock()
	r := int64(c.s.opts.HighWater) - c.budget.Queued() - int64(acc)
	return int(max(min(r, math.MaxInt32), 0))
}

// deliverBatch counts the frames of b, a batch from Reader.NextBatch,
// and hands it to OnBatch. Only the serving goroutine calls it.
// r[impl serve.handler] r[impl serve.reply]
func (c *sconn) deliverBatch(bh framelink.BatchHandler, b framelink.Batch) {
	c.counters.FramesIn.Add(uint64(b.Len()))
	c.counters.BytesIn.Add(uint64(len(b.Bytes()) - b.Len()*codec.HeaderSize))
	bh.OnBatch(c, b)
}

// EchoBatch implements framelink.Conn: it copies all of b's bytes, as
// they are, into the output at once and commits them as one, in order
// with every other Send, slot and Echo; it costs one copy and no work per
// frame. (This engine copies every batch: its read buffer is reused as
// soon as the serving goroutine reads on.) A frame over MaxFrame fails
// the call with ErrFrameTooLarge and nothing is sent; an empty b sends
// nothing. After Close it returns ErrClosed, like Send. b stays the
// caller's. Safe from any goroutine.
// r[impl serve.reply] r[impl link.tx.coalesce]
func (c *sconn) EchoBatch(b framelink.Batch) error {
	if err := codec.CheckSize(uint64(b.Largest()), c.s.opts.MaxFrame); err != nil {
		return err
	}
	w := b.Bytes()
	if len(w) == 0 {
		return nil
	}
	var err error
	if len(w) > accSize/2 {
		err = c.commitWire(w)
	} else {
		err = c.appendWire(w)
	}
	if err != nil {
		return err
	}
	c.counters.FramesOut.Add(uint64(b.Len()))
	c.counters.BytesOut.Add(uint64(len(w) - b.Len()*codec.HeaderSize))
	if !c.inLoop.Load() {
		c.kick()
	}
	return nil
}

// appendWire copies whole frames w into the Send accumulator (send's
// path for small frames).
func (c *sconn) appendWire(w []byte) error {
	c.accMu.Lock()
	defer c.accMu.Unlock()
	if c.tx.Closed() {
		return framelink.ErrClosed
	}
	if cap(c.acc)-len(c.acc) < len(w) {
		if err := c.commitAccLocked(); err != nil {
			return err
		}
	}
	if c.acc == nil {
		c.acc = pool.Get(accSize)[:0]
	}
	c.acc = append(c.acc, w...)
	return nil
}

// commitWire copies whole frames w into a pool buffer of their size and
// commits it after the accumulator (connSink.Commit's order).
func (c *sconn) commitWire(w []byte) error {
	buf := pool.Get(len(w))
	copy(buf, w)
	c.accMu.Lock()
	defer c.accMu.Unlock()
	if c.tx.Closed() {
		pool.Put(buf)
		return framelink.ErrClosed
	}
	if err := c.commitAccLocked(); err != nil {
		pool.Put(buf)
		return err
	}
	return c.q.Commit(buf) // on error the Queue gave buf back to the pool
}
