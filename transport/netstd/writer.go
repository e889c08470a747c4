package netstd

import (
	"io"
	"net"

	"github.com/framelink/framelink/pool"
)

// gatherMax is the largest batch that a writer without writev copies into
// one buffer for a single write; bigger batches are written frame by frame.
const gatherMax = 256 << 10

// gatherSmall is the largest batch that is copied into one buffer even
// where writev exists: for small frames one contiguous write is cheaper
// than an iovec per frame.
const gatherSmall = 16 << 10

// writeLoop is the link's writer goroutine: it takes every frame committed
// so far and writes them in one writev, until the queue is shut and empty
// (then it half-closes) or the link is closed or a write fails.
// r[impl link.tx.coalesce]
func (l *link) writeLoop() {
	defer close(l.writerDone)
	for {
		select {
		case <-l.q.Ready():
		case <-l.done:
			l.drain()
			return
		}
		for {
			var shut bool
			l.batch, shut = l.q.Take(l.batch[:0])
			if len(l.batch) == 0 {
				if shut {
					if !l.closed.Load() {
						if err := l.halfClose(); err != nil {
							l.setWriteErr(err)
						}
					}
					return
				}
				break
			}
			err := l.write(l.batch)
			l.q.Done(l.batch)
			if err != nil {
				l.setWriteErr(err)
				l.budget.Close(err)
				l.q.Shut(err)
				l.drain()
				return
			}
		}
	}
}

// drain gives back every queued frame after the queue was shut.
func (l *link) drain() {
	for {
		l.batch, _ = l.q.Take(l.batch[:0])
		if len(l.batch) == 0 {
			return
		}
		l.q.Done(l.batch)
	}
}

// write writes a batch of whole frames: one write for one frame; for many,
// one gathered write when they are small in total, else one writev where
// the writer has it, else gathered writes.
func (l *link) write(batch [][]byte) error {
	return writeBatch(l.w, l.writev, batch, &l.iov, &l.bufs)
}

// writeBatch is shared by links and served connections. iov and bufs are
// the caller's reusable scratch, so steady state does not allocate.
func writeBatch(w io.Writer, writev bool, batch [][]byte, iov *[][]byte, bufs *net.Buffers) error {
	if len(batch) == 1 {
		_, err := w.Write(batch[0])
		return err
	}
	total := 0
	for _, f := range batch {
		total += len(f)
	}
	if writev && total > gatherSmall {
		*iov = append((*iov)[:0], batch...)
		*bufs = (*iov)
		_, err := bufs.WriteTo(w)
		clear(*iov)
		return err
	}
	if total > gatherMax {
		for _, f := range batch {
			if _, err := w.Write(f); err != nil {
				return err
			}
		}
		return nil
	}
	g := pool.Get(total)
	n := 0
	for _, f := range batch {
		n += copy(g[n:], f)
	}
	_, err := w.Write(g)
	pool.Put(g)
	return err
}
