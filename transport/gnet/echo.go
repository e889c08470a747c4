//go:build unix

package gnet

import (
	"encoding/binary"
	"unsafe"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// Echo without a copy. While the loop walks a window of input Peeked from
// gnet (decode), that window is recorded in c.win. Echo of a payload that
// lies in it, preceded by its own length header (which is what a frame
// delivered from it is), extends c.win[spanLo:spanHi], the echoed bytes:
// headers and payloads exactly as Send would have encoded them. Before the
// window is Discarded (after which gnet may hand its memory to another
// buffer) the loop writes the span with one gnet Write, from gnet's own
// memory, as the hand-written gnet echo does.
//
// Order: the span is always the last thing committed. Anything else
// committed while it is open (a Send, a slot, an Echo that does not
// continue it) first copies it into pending (sealSpanLocked), and a span
// that ends behind pending frames is copied after them instead of being
// written ahead of them (endWindow). So frames leave in commit order, as
// with Send.

// Echo implements framelink.Conn. Inside OnFrame, with payload (or a part
// of it preceded by matching header bytes) in the window being walked, it
// costs no copy: the bytes are written from gnet's input buffer when the
// walk ends, within the same OnTraffic. The handler must not modify
// payload after Echo. Anything else is Send. Safe from any goroutine.
// r[impl serve.reply] r[impl link.tx.coalesce]
func (c *conn) Echo(p []byte) error {
	if err := codec.CheckSize(uint64(len(p)), c.opts.MaxFrame); err != nil {
		return err
	}
	c.mu.Lock()
	if c.win == nil || c.writing || c.closed || c.closeAsked || c.txClosing || c.wrShut {
		return c.sendLocked(p)
	}
	hdr, end, ok := echoSpan(c.win, p)
	if !ok {
		return c.sendLocked(p)
	}
	c.extendSpanLocked(hdr, end, 1, len(p))
	return nil
}

// EchoBatch implements framelink.Conn. Inside OnBatch, with b (or a run of
// its frames) in the window being walked, it costs no copy and no work
// per frame: the batch's bytes are written from gnet's input buffer when
// the walk ends, as Echo's are. The handler must not modify b's bytes
// afterwards. Any other batch is copied into the pending output at once.
// Safe from any goroutine.
// r[impl serve.reply] r[impl link.tx.coalesce]
func (c *conn) EchoBatch(b framelink.Batch) error {
	if err := codec.CheckSize(uint64(b.Largest()), c.opts.MaxFrame); err != nil {
		return err
	}
	w := b.Bytes()
	if len(w) == 0 {
		return nil
	}
	payload := len(w) - b.Len()*codec.HeaderSize
	c.mu.Lock()
	if c.win == nil || c.writing || c.closed || c.closeAsked || c.txClosing || c.wrShut {
		return c.sendWireLocked(w, b.Len(), payload)
	}
	hdr, ok := inWindow(c.win, w)
	if !ok {
		return c.sendWireLocked(w, b.Len(), payload)
	}
	c.extendSpanLocked(hdr, hdr+len(w), b.Len(), payload)
	return nil
}

// extendSpanLocked makes c.win[hdr:end], which holds frames whole frames
// with payload bytes of payload, the end of the echoed span (c.mu held; it
// unlocks it).
func (c *conn) extendSpanLocked(hdr, end, frames, payload int) {
	if c.spanHi != c.spanLo && c.spanHi != hdr {
		c.sealSpanLocked() // not contiguous with the open span
	}
	if c.spanHi == c.spanLo {
		c.spanLo = hdr
	}
	c.spanHi = end
	c.outFrames += frames
	c.outBytes += payload
	c.deferLocked(end - hdr) // c.win is set only while the loop runs
	c.mu.Unlock()
}

// inWindow reports whether w lies within win, and at which offset.
func inWindow(win, w []byte) (off int, ok bool) {
	// Wraps to a negative int when w starts before win.
	off = int(uintptr(unsafe.Pointer(unsafe.SliceData(w))) - uintptr(unsafe.Pointer(unsafe.SliceData(win))))
	if off < 0 || off > len(win)-len(w) {
		return 0, false
	}
	return off, true
}

// echoSpan locates p in win: the offsets of its header and its end, and
// whether p lies in win after header bytes that encode its length, so
// that win[hdr:end] is exactly the frame Send(p) would encode.
func echoSpan(win, p []byte) (hdr, end int, ok bool) {
	if len(p) == 0 || len(win) < codec.HeaderSize {
		return 0, 0, false
	}
	// Wraps to a negative int when p starts before win.
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(win))))
	if off < codec.HeaderSize || off > len(win)-len(p) {
		return 0, 0, false
	}
	if binary.LittleEndian.Uint32(win[off-codec.HeaderSize:]) != uint32(len(p)) {
		return 0, 0, false
	}
	return off - codec.HeaderSize, off + len(p), true
}

// sealSpanLocked copies the open span into pending, where later commits
// follow it (c.mu held). Its bytes are already counted.
func (c *conn) sealSpanLocked() {
	b := c.win[c.spanLo:c.spanHi]
	c.spanLo, c.spanHi = 0, 0
	seg := c.segLocked(len(b))
	*seg = append(*seg, b...)
}

// beginWindow records the window decode is about to walk (loop), and
// returns the output's room under its high-water mark (for a batch). Echo
// spans are made only in a loop run's own decode, not at the end of
// stream (onClose), whose input goes through other buffers.
func (c *conn) beginWindow(win []byte) (room int64) {
	if c.rx != nil {
		return 0
	}
	c.mu.Lock()
	c.enterLoopLocked()
	if !c.draining {
		c.win = win
	}
	room = c.outputRoomLocked()
	c.mu.Unlock()
	return room
}

// endWindow ends the walk over c.win before decode Discards it (loop):
// the echoed span is written now with one gnet Write, which sends what the
// socket takes and copies the rest into gnet's outbound buffer, so nothing
// refers to the window afterwards. If frames committed earlier wait in
// pending (or a direct writer owns the socket), the span is copied behind
// them instead and the run's flush writes it.
func (c *conn) endWindow() {
	c.mu.Lock()
	if c.win == nil {
		c.mu.Unlock()
		return
	}
	if c.spanHi == c.spanLo {
		c.win = nil
		c.mu.Unlock()
		return
	}
	if c.pending != nil || c.writing || c.dead {
		if !c.dead {
			c.sealSpanLocked()
		}
		c.win, c.spanLo, c.spanHi = nil, 0, 0
		c.mu.Unlock()
		return
	}
	b := c.win[c.spanLo:c.spanHi]
	c.win, c.spanLo, c.spanHi = nil, 0, 0
	c.writing, c.writerLoop = true, true
	// Usually the span's bytes are all the run has not yet added to the
	// budget: they are then added only if gnet keeps some of them, rather
	// than added now and taken off after the write.
	inBudget := c.unacct != len(b)
	if inBudget {
		c.accountLocked()
	} else {
		c.unacct = 0
	}
	c.mu.Unlock()

	_, _ = c.gc.Write(b)
	if c.dead { // a failed write closes c in gnet, which runs onClose first
		return
	}
	if inBudget {
		c.wroteGnet(len(b))
	} else {
		c.keptGnet()
	}
	// The loop keeps the write side until the run's flush, which lets it
	// go under the lock it takes anyway; commits meanwhile wait in
	// pending for that flush.
	c.spanWriter = true
}

// keptGnet accounts for a write through gnet whose bytes were not in the
// budget (loop): what gnet kept in its outbound buffer joins it.
func (c *conn) keptGnet() {
	out := c.gc.OutboundBuffered()
	if kept := out - c.gnetOut; kept > 0 {
		c.noteQueued(c.budget.Add(kept))
	} else if kept < 0 {
		c.budget.Sub(-kept)
	}
	c.gnetOut = out
}

var _ framelink.Conn = (*conn)(nil)
