//go:build unix

package gnet

import (
	"runtime"

	gio "github.com/panjf2000/gnet/v2/pkg/io"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink/pool"
)

// Writing. One writer at a time owns the socket's write side (c.writing,
// under c.mu):
//
//   - the loop, in flush, writes through gnet (Write/Writev), which copies
//     what the socket does not take into gnet's outbound buffer and polls
//     for writability; its in-place echo write (endWindow) keeps the role
//     until that run's flush, which lets it go with the lock it takes
//     anyway (one lock round trip less per read event);
//   - a goroutine that commits outside the loop, for the first frame
//     since a frame arrived (a reply, typically), writes directly with a
//     non-blocking writev on the descriptor, as long as gnet's outbound
//     buffer is empty (c.gnetBusy false); the first short write (EAGAIN)
//     hands the rest to the loop and marks gnet busy until the loop sees
//     its buffer empty again;
//   - any other commit outside the loop queues one loop task (gnet's
//     AsyncWritev with an empty vector; its callback runs flush on the
//     loop), and everything committed until it runs goes out together.
//
// Frames committed while a writer is active are appended to pending and
// written by that writer before it lets go, so a burst of commits leaves
// in one writev (r[link.tx.coalesce]). Direct writes are safe because
// gnet itself writes the descriptor only from its outbound buffer (empty
// then) and onClose waits for a direct writer to finish before gnet
// closes the descriptor. They avoid gnet's AsyncWritev, which costs three
// allocations and a wake-up of the loop per call (measured), and a loop
// hop of latency; bursts still go through the loop, because a writev per
// frame from the sender measured 3.5 times slower than the loop's batch.

// directMaxIov bounds one direct writev: x/sys/unix allocates its iovec
// array above 8 entries.
const directMaxIov = 8

// afterAppendLocked decides what a commit outside a callback does after
// appending to pending (c.mu held): nothing when a writer is active or the
// loop will flush; true to become the direct writer; else a loop task.
func (c *conn) afterAppendLocked() (direct bool) {
	if c.wo != nil {
		c.wo.wake(false)
		return false
	}
	if c.inLoop || c.writing {
		return false
	}
	// Direct only for the first commit since a frame arrived (the
	// request/response pattern: no allocation, no loop hop). Later
	// commits of a burst go to the loop, which writes all of them in one
	// writev while the sender runs ahead.
	in := c.counters.FramesIn.Load() + uint64(c.inFrames)
	if c.gnetBusy || c.gc == nil || in == c.lastDirectIn {
		c.kickLocked()
		return false
	}
	c.lastDirectIn = in
	c.writing, c.writerLoop = true, false
	return true
}

// directWrite is the direct writer's loop (c.writing held, c.mu not).
func (c *conn) directWrite() {
	for {
		c.mu.Lock()
		if c.closed || c.gnetBusy || c.pending == nil {
			if !c.closed && c.pending != nil {
				c.kickLocked()
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.accountLocked() // Sends of a loop run this writer takes
		bp, off := c.pending, c.pendOff
		c.pending, c.pendOff, c.accOpen = nil, 0, false
		c.mu.Unlock()

		batch := *bp
		i, m, wrote := writeRaw(c.fd, batch, off)
		c.budget.Sub(wrote)
		for k := 0; k < i; k++ {
			pool.Put(batch[k])
			batch[k] = nil
		}
		if i == len(batch) {
			*bp = batch[:0]
			batchPool.Put(bp)
			continue
		}
		// Short write: the rest goes back in front of what was appended
		// meanwhile, and the loop takes over.
		c.mu.Lock()
		rest := append(batch[:0], batch[i:]...)
		clear(batch[len(rest):])
		if c.pending != nil {
			rest = append(rest, *c.pending...)
			clear(*c.pending)
			*c.pending = (*c.pending)[:0]
			batchPool.Put(c.pending)
		}
		*bp = rest
		c.pending, c.pendOff = bp, m
		c.accOpen = false
		c.gnetBusy = true
		c.writing = false
		c.kickLocked()
		c.mu.Unlock()
		return
	}
}

// writeRaw writes batch (its first segment from off) to fd with
// non-blocking writevs of at most directMaxIov segments. It returns the
// index of the first segment not fully written, the bytes of it already
// written, and the bytes written in all. It stops at the first short
// write or error; errors are left for the loop (gnet) to meet and report.
func writeRaw(fd int, batch [][]byte, off int) (i, m, wrote int) {
	var iov [directMaxIov][]byte
	m = off
	for i < len(batch) {
		k, want := 0, 0
		for j := i; j < len(batch) && k < directMaxIov; j++ {
			b := batch[j]
			if j == i {
				b = b[m:]
			}
			iov[k] = b
			want += len(b)
			k++
		}
		var n int
		var err error
		if k == 1 {
			n, err = unix.Write(fd, iov[0])
		} else {
			n, err = gio.Writev(fd, iov[:k])
		}
		clear(iov[:k])
		n = max(n, 0)
		wrote += n
		short := n < want
		for n > 0 {
			if left := len(batch[i]) - m; n < left {
				m += n
				n = 0
			} else {
				n -= left
				i++
				m = 0
			}
		}
		if err != nil || short {
			return i, m, wrote
		}
	}
	return i, m, wrote
}

// flush writes every pending segment through gnet in one write (on the
// loop) and gives the memory back; it yields to an active direct writer,
// which writes pending itself. gnet writes what the socket takes and
// copies the rest into its outbound buffer, so nothing of ours is
// retained.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if c.spanWriter {
			// endWindow wrote the run's echoes and kept the socket's
			// write side: it is let go here, with the lock taken anyway.
			c.spanWriter = false
			c.writing, c.writerLoop = false, false
			c.gnetBusy = c.gnetOut > 0
		}
		if c.gnetOut == 0 && !c.writing {
			c.gnetBusy = false
		}
		c.publishInLocked()
		c.accountLocked()
		c.accOpen = false
		c.inLoop = false
		c.lCloseAsked = c.closeAsked
		c.lTxClosing = c.txClosing
		bp, off := c.pending, c.pendOff
		if bp == nil || c.writing || c.dead {
			c.mu.Unlock()
			return
		}
		c.pending, c.pendOff = nil, 0
		c.writing, c.writerLoop = true, true
		c.mu.Unlock()

		c.writeGnet(bp, off)

		c.mu.Lock()
		c.writing, c.writerLoop = false, false
		c.gnetBusy = c.gnetOut > 0
		again := c.pending != nil && !c.dead
		c.mu.Unlock()
		if !again {
			return
		}
	}
}

// writeGnet writes batch (its first segment from off) through gnet and
// releases it (loop, c.writing held).
func (c *conn) writeGnet(bp *[][]byte, off int) {
	batch := *bp
	total := -off
	for _, f := range batch {
		total += len(f)
	}
	switch {
	case c.dead:
	case len(batch) == 1:
		_, _ = c.gc.Write(batch[0][off:])
	case total <= mergeMax:
		buf := pool.Get(total)
		k := copy(buf, batch[0][off:])
		for _, f := range batch[1:] {
			k += copy(buf[k:], f)
		}
		_, _ = c.gc.Write(buf)
		pool.Put(buf)
	default:
		// gnet's writev reslices the vector it is given on a short
		// write, so it gets a copy: the originals go back to the pool.
		ip := iovPool.Get().(*[][]byte)
		for i := 0; i < len(batch) && !c.dead; i += iovMax {
			iov := append((*ip)[:0], batch[i:min(i+iovMax, len(batch))]...)
			if i == 0 {
				iov[0] = iov[0][off:]
			}
			_, _ = c.gc.Writev(iov)
			clear(iov)
			*ip = iov[:0]
		}
		iovPool.Put(ip)
	}
	for i, f := range batch {
		pool.Put(f)
		batch[i] = nil
	}
	*bp = batch[:0]
	batchPool.Put(bp)
	if c.dead {
		return
	}
	c.wroteGnet(total)
}

// wroteGnet accounts for total bytes just handed to gnet's Write or
// Writev (loop): what gnet did not keep in its outbound buffer reached the
// kernel and leaves the budget; the rest leaves it as gnet drains it
// (syncOut).
func (c *conn) wroteGnet(total int) {
	out := c.gc.OutboundBuffered()
	c.budget.Sub(total - (out - c.gnetOut))
	c.gnetOut = out
}

// waitDirectWriter is called by onClose (on the loop) before gnet closes
// the descriptor: a direct writer still in its writev must finish first.
// Its writev does not block (the socket is non-blocking), so this is
// short. c.mu is held on entry and on return.
func (c *conn) waitDirectWriterLocked() {
	for c.writing && !c.writerLoop {
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
}
