package netstd

import (
	"encoding/binary"
	"math"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// Batches for a framelink.BatchHandler.
//
// The codec.Reader holds the input in its read buffer exactly as it came
// off the wire, but hands it out a payload at a time (NextView). To hand
// over a run of whole frames at once, the serving goroutine locates that
// run in the read buffer itself: the Reader's source (serveSource,
// lazyServeSource) sees every slice the Reader reads into, and notes the
// read buffer (rbuf) and how far it is filled (rend). After NextView
// returns a payload, the frame lies at rbuf[rend-Buffered()-4-len(p):]
// and the Reader's other buffered bytes follow it up to rend. That is
// checked before use (the payload must be at that address, after its
// header, within rbuf); a payload it does not describe (a frame larger
// than the read buffer, which the Reader reads into a buffer of its own)
// is copied behind its header and handed over as a batch of one.
//
// The batch is framelink.CutBatch of those bytes, up to the output's
// room. Once OnBatch returns, NextView steps the Reader over the batch's
// other frames, which are whole in its buffer, so it reads nothing.

// readInto notes the slice p that the Reader is about to read into: more
// of its read buffer (rbuf), a new read buffer, or a frame larger than
// the read buffer (which rbuf then does not describe). Only the serving
// goroutine calls it, from the Reader's source.
func (c *sconn) readInto(p []byte) {
	switch {
	case cap(p) == 0:
		c.rbuf = nil
	case c.rbuf != nil && sameEnd(c.rbuf, p):
		c.rend = cap(c.rbuf) - cap(p) // p is rbuf[rend:]
	case !c.rd.Started():
		// Nothing buffered and no large frame in progress: the Reader
		// took a new read buffer and reads into all of it.
		c.rbuf, c.rend = p, 0
	default:
		c.rbuf = nil // a large frame's own buffer
	}
}

// readDone counts n bytes read into what readInto noted.
func (c *sconn) readDone(n int) {
	if c.rbuf != nil {
		c.rend += n
	}
}

// readLazyDone notes a lazy read's buffer (a new read buffer holding n
// bytes, or given back to the pool if n is 0).
func (c *sconn) readLazyDone(buf []byte, n int) {
	if buf == nil {
		return
	}
	if n > 0 {
		c.rbuf, c.rend = buf, n
	} else {
		c.rbuf = nil
	}
}

// sameEnd reports whether a and b end at the same place in memory: b is
// a[cap(a)-cap(b):]. Both have a non-zero capacity.
func sameEnd(a, b []byte) bool {
	return &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

// located returns the frame whose payload NextView just returned, p,
// followed by every byte the Reader still buffers, as they lie in its
// read buffer; false if p is not in the read buffer as noted.
func (c *sconn) located(p []byte) ([]byte, bool) {
	if c.rbuf == nil || c.rend > len(c.rbuf) {
		return nil, false
	}
	end := c.rend - c.rd.Buffered()
	start := end - codec.HeaderSize - len(p)
	if start < 0 {
		return nil, false
	}
	// The address first: rbuf's memory is read only once p is known to
	// be in it.
	if len(p) > 0 && &c.rbuf[start+codec.HeaderSize] != &p[0] {
		return nil, false
	}
	if binary.LittleEndian.Uint32(c.rbuf[start:]) != uint32(len(p)) {
		return nil, false
	}
	return c.rbuf[start:c.rend], true
}

// room is how many bytes the output takes before its high-water mark:
// HighWater less what is queued and what the Send accumulator holds.
func (c *sconn) room() int {
	c.accMu.Lock()
	acc := len(c.acc)
	c.accMu.Unlock()
	r := int64(c.s.opts.HighWater) - c.budget.Queued() - int64(acc)
	return int(max(min(r, math.MaxInt32), 0))
}

// deliverBatch hands the frame whose payload NextView just returned, p,
// to OnBatch together with the whole frames buffered behind it (as many
// as the output has room for), then steps the Reader over those. A frame
// larger than the read buffer comes alone, copied behind its header.
// r[impl serve.handler] r[impl serve.reply]
func (c *sconn) deliverBatch(bh framelink.BatchHandler, p []byte) error {
	max := c.s.opts.MaxFrame
	wire, ok := c.located(p)
	if !ok {
		buf := pool.Get(codec.HeaderSize + len(p))
		codec.PutHeader(buf, uint32(len(p)))
		copy(buf[codec.HeaderSize:], p)
		c.counters.In(len(p))
		bh.OnBatch(c, framelink.CutBatch(buf, max, 0))
		pool.Put(buf)
		return nil
	}
	b := framelink.CutBatch(wire, max, c.room())
	c.counters.FramesIn.Add(uint64(b.Len()))
	c.counters.BytesIn.Add(uint64(len(b.Bytes()) - b.Len()*codec.HeaderSize))
	bh.OnBatch(c, b)
	for range b.Len() - 1 {
		if _, err := c.rd.NextView(); err != nil {
			return err // cannot happen: the frames are buffered whole
		}
	}
	if c.rd.Buffered() == 0 {
		c.rbuf = nil // the Reader gives it back on its next call
	}
	return nil
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
