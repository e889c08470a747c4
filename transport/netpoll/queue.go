//go:build !windows

package netpoll

import (
	"sync"
	"syscall"
	"unsafe"

	"github.com/framelink/framelink/pool"
)

// queue holds the frames of one connection that are committed but not yet
// written: a list of pool buffers (chunks) filled end to end, written with
// one writev. A connection holds a queue only while it has output: the
// writer takes it, writes it, and gives the chunks to the pool and the
// queue to queuePool, so an idle connection holds no send memory
// (r[perf.idle]).
//
// A queue is owned by one goroutine at a time: output.mu's holder while it
// is output.q, the writer once taken.
type queue struct {
	bufs [][]byte // chunks; bufs[i][:len] is filled (pool buffers)
	off  int      // bytes of bufs[0] already written
	n    int      // bytes not yet written
	next int      // capacity of the next chunk
	iov  []syscall.Iovec
}

const (
	// firstChunk is the size of a queue's first chunk: a batch of small
	// replies fits in it.
	firstChunk = 4 << 10
	// maxChunk bounds the size chunks grow to (each new chunk doubles).
	maxChunk = 64 << 10
	// adoptMin: a committed slot frame at least this big becomes a chunk
	// as it is (no copy); smaller ones are copied into the last chunk.
	adoptMin = 2 << 10
	// maxIov bounds the chunks one writev takes (IOV_MAX is 1024).
	maxIov = 1024
)

var queuePool = sync.Pool{New: func() any { return &queue{next: firstChunk} }}

func getQueue() *queue { return queuePool.Get().(*queue) }

// free gives the chunks still held to the pool and q to queuePool.
func (q *queue) free() {
	for i := range q.bufs {
		pool.Put(q.bufs[i])
		q.bufs[i] = nil
	}
	q.bufs = q.bufs[:0]
	q.off, q.n, q.next = 0, 0, firstChunk
	queuePool.Put(q)
}

// malloc returns n bytes at the end of the queue.
func (q *queue) malloc(n int) []byte {
	q.n += n
	if k := len(q.bufs); k > 0 {
		last := q.bufs[k-1]
		if l := len(last); cap(last)-l >= n {
			q.bufs[k-1] = last[:l+n]
			return last[l : l+n]
		}
	}
	size := q.next
	if size < maxChunk {
		q.next = size * 2
	}
	b := pool.Get(max(n, size))[:n]
	q.bufs = append(q.bufs, b)
	return b
}

// adopt appends frame (a pool buffer) to the queue: big frames become a
// chunk of their own, small ones are copied and frame goes back to the
// pool.
func (q *queue) adopt(frame []byte) {
	if len(frame) < adoptMin {
		copy(q.malloc(len(frame)), frame)
		pool.Put(frame)
		return
	}
	q.n += len(frame)
	q.bufs = append(q.bufs, frame)
}

// prepend puts q's chunks in front of later's and frees later.
func (q *queue) prepend(later *queue) {
	q.bufs = append(q.bufs, later.bufs...)
	q.n += later.n
	q.next = max(q.next, later.next)
	clear(later.bufs)
	later.bufs = later.bufs[:0]
	later.n, later.next = 0, firstChunk
	queuePool.Put(later)
}

// writeTo writes the queue to fd (non-blocking) until it is empty or the
// socket is full, giving written chunks back to the pool. It returns the
// bytes written and an error other than EAGAIN.
func (q *queue) writeTo(fd int) (int, error) {
	written := 0
	for q.n > 0 {
		k := min(len(q.bufs), maxIov)
		if cap(q.iov) < k {
			q.iov = make([]syscall.Iovec, k, max(k, 2*cap(q.iov)))
		}
		iov := q.iov[:k]
		for i, b := range q.bufs[:k] {
			if i == 0 {
				b = b[q.off:]
			}
			iov[i].Base = unsafe.SliceData(b)
			iov[i].SetLen(len(b))
		}
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		clear(iov)
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return written, nil
		}
		if e != 0 {
			return written, e
		}
		n := int(r)
		written += n
		q.consume(n)
		if n == 0 {
			return written, nil
		}
	}
	return written, nil
}

// consume drops n written bytes from the front.
func (q *queue) consume(n int) {
	q.n -= n
	i := 0
	for n > 0 {
		rest := len(q.bufs[i]) - q.off
		if n < rest {
			q.off += n
			break
		}
		n -= rest
		pool.Put(q.bufs[i])
		q.bufs[i] = nil
		q.off = 0
		i++
	}
	if i > 0 {
		m := copy(q.bufs, q.bufs[i:])
		clear(q.bufs[m:])
		q.bufs = q.bufs[:m]
	}
}
