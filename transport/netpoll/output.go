//go:build !windows

package netpoll

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
	"golang.org/x/sys/unix"
)

// output is the send path of one connection (r[transport.netpoll]): a
// sendq.Sink that queues committed frames in pool buffers (queue) and
// writes them to the socket with writev, bypassing netpoll's output
// buffer while the socket takes everything.
//
//   - mu guards the queue. Send copies the caller's bytes into it (one
//     copy, as a hand-written netpoll server copies into its Writer);
//     Commit copies a small slot frame into it and adopts a big one as it
//     is (no copy).
//   - One writer at a time owns the socket's write side (flushing), and
//     writes outside mu. Replies committed inside OnRequest are written at
//     the batch's end by the worker goroutine itself, one writev per
//     batch, like a hand-written server's Flush (the socket is
//     non-blocking, so this never waits for the network). A commit outside
//     a batch that finds no writer running starts a flusher goroutine and
//     returns (r[link.tx.commit]): a goroutine streaming small frames
//     keeps committing while the flusher writes, and what it committed
//     meanwhile leaves together in the flusher's next writev
//     (r[link.tx.coalesce]), where a write per Send would cost a syscall
//     per frame.
//   - When the socket is full, the batch's end hands the rest to a flusher
//     goroutine; the flusher copies it into netpoll's Writer and Flushes:
//     netpoll's poller waits for the socket and writes it (blocking that
//     goroutine only). Later frames queue behind it, in order.
//   - Slots (Permit.Alloc) are pool buffers given to the queue at Commit:
//     nothing half-written is ever in the queue, so Discard and Release
//     only give a pool buffer back (r[link.tx.discard]).
//
// The queue and its chunks are returned to their pools as soon as they are
// written: an idle connection holds no send memory of framelink's, and
// netpoll's output buffer never allocates its 4 KiB node unless the socket
// was full once (r[perf.idle]).
//
// The byte budget counts bytes from commit until they were written to the
// kernel (r[link.tx.backpressure]). On a served connection, commits add
// their bytes to it in steps (acctStep, kept in unacct under mu) rather
// than with one more atomic add per frame: the writer adds the rest before
// it takes the queue, and overLocked and stats count unacct too, so only
// OnRequest's pause check (budget.Over) can see the output up to acctStep
// bytes late. Pull links add every frame at once (Reserve waits on it).
//
// The descriptor stays open while a writer runs: the connection's close
// callback (closeWait) waits for the writer to finish before netpoll's own
// callback closes the descriptor, and fail/closeWait stop new writers.
type output struct {
	budget   *sendq.Budget
	counters *framelink.Counters
	high     int64
	acctStep int // served: budget additions are batched up to this (see above)
	owner    outputOwner
	conn     netpoll.Connection
	fd       int
	// served: a push-API connection. A frame committed while the budget
	// is above high (outputLimit: 2×HighWater + MaxFrame+4) is refused
	// and owner.outputOverflow closes the connection, so the output holds
	// at most that plus the frame that crossed it. (OnRequest pauses at
	// the high-water mark, so replies from OnFrame rarely get there.)
	served bool
	// localClosed, for a pull link: once set (Close), commits fail with
	// ErrClosed whatever failed the output first (the peer's hang-up).
	localClosed *atomic.Bool
	// ownWait, for a pull link: a full socket is waited for through Go's
	// runtime poller (writeRest), never with netpoll's Flush, which would
	// switch netpoll's reads of the socket back on (see readSwitch).
	ownWait bool
	// flushFn is flushLoop as a func value, made the first time the
	// socket is full: "go o.flushFn()" does not allocate, "go
	// o.flushLoop()" does. Written only by the writer.
	flushFn func()

	// batching: inside OnRequest, whose end writes the replies. Set and
	// cleared by the OnRequest goroutine without mu (endBatch clears it
	// before it takes mu to look for output, so a committer that still
	// saw it set leaves its frame to that look).
	batching atomic.Bool

	mu       sync.Mutex
	flushing bool          // a writer owns the socket's write side
	drain    bool          // call owner.outputDrained once empty
	q        *queue        // frames not yet taken by the writer (nil: none)
	wake     chan struct{} // closed when a writer stops (made by waiters)
	shut     error         // commits fail with it (local close)
	err      error         // the socket is off limits (closed or failed)
	// waitFile is the duplicate descriptor writeRest waits on, if it
	// does: fail and closeWait wake it (a past write deadline).
	waitFile *os.File
	// lost: a committed frame was dropped unwritten, or a write failed.
	// drained: when the connection closed, nothing was lost (waitDrained
	// then reports success).
	lost, drained bool
	// Frames and payload bytes sent by send, and received by a served
	// connection (added per batch by endBatch), counted under mu (cheaper
	// than atomic adds); stats adds them in.
	sentFrames, sentBytes uint64
	recvFrames, recvBytes uint64
	unacct                int // bytes in q not yet added to the budget
}

// maxAcctStep bounds acctStep; it is also at most a sixteenth of the
// low-water mark.
const maxAcctStep = 32 << 10

// outputOwner is told (without output.mu held) what happened to the output.
type outputOwner interface {
	outputFailed(err error) // a write failed (once)
	outputOverflow()        // served only: a commit above the high-water mark
	outputDrained()         // the output is empty after shutDrain
}

func (o *output) init(owner outputOwner, served bool, conn netpoll.Connection, budget *sendq.Budget, counters *framelink.Counters, high int) {
	o.owner, o.served, o.conn, o.budget, o.counters, o.high = owner, served, conn, budget, counters, int64(high)
	o.fd = conn.(netpoll.Conn).Fd()
}

// batchBudget makes commits add to the budget in steps of up to
// maxAcctStep bytes, at most low/16 (served connections only).
func (o *output) batchBudget(low int) { o.acctStep = min(maxAcctStep, low/16) }

// accountLocked counts n more queued bytes.
func (o *output) accountLocked(n int) {
	if u := o.unacct + n; u < o.acctStep {
		o.unacct = u
		return
	}
	o.budget.Add(o.unacct + n)
	o.unacct = 0
}

// settleLocked adds the bytes not yet counted to the budget.
func (o *output) settleLocked() {
	if o.unacct > 0 {
		o.budget.Add(o.unacct)
		o.unacct = 0
	}
}

// Alloc implements sendq.Sink: a pool buffer with header room.
func (o *output) Alloc(n int) ([]byte, error) { return pool.Get(codec.HeaderSize + n), nil }

// Discard implements sendq.Sink: the frame was never queued, so nothing
// of it can be written. r[impl link.tx.discard]
func (o *output) Discard(frame []byte) { pool.Put(frame) }

// Commit implements sendq.Sink: frame (header written) joins the queue. It
// never waits for the network. r[impl link.tx.commit]
func (o *output) Commit(frame []byte) error {
	o.mu.Lock()
	if err := o.closedLocked(); err != nil {
		o.mu.Unlock()
		pool.Put(frame)
		return err
	}
	if o.overLocked() {
		o.mu.Unlock()
		pool.Put(frame)
		o.owner.outputOverflow()
		return ErrOutputOverflow
	}
	n := len(frame)
	if o.q == nil {
		o.q = getQueue()
	}
	o.q.adopt(frame)
	o.accountLocked(n)
	start := o.kickLocked()
	o.mu.Unlock()
	if start {
		o.goFlush()
	}
	return nil
}

// send publishes p as one frame, copied once into the queue, and starts
// the flusher if no writer runs and no batch is open (a batch writes at its
// end). It never waits for the network.
func (o *output) send(p []byte) error {
	n := codec.HeaderSize + len(p)
	o.mu.Lock()
	if err := o.closedLocked(); err != nil {
		o.mu.Unlock()
		return err
	}
	if o.overLocked() {
		o.mu.Unlock()
		o.owner.outputOverflow()
		return ErrOutputOverflow
	}
	if o.q == nil {
		o.q = getQueue()
	}
	dst := o.q.malloc(n)
	codec.PutHeader(dst, uint32(len(p)))
	copy(dst[codec.HeaderSize:], p)
	o.accountLocked(n)
	o.sentFrames++
	o.sentBytes += uint64(len(p))
	start := o.kickLocked()
	o.mu.Unlock()
	if start {
		o.goFlush()
	}
	return nil
}

// sendWire publishes w, frames whole frames with payload bytes of
// payload as they are on the wire, copied once into the queue as one
// commit, like send.
func (o *output) sendWire(w []byte, frames, payload int) error {
	o.mu.Lock()
	if err := o.closedLocked(); err != nil {
		o.mu.Unlock()
		return err
	}
	if o.overLocked() {
		o.mu.Unlock()
		o.owner.outputOverflow()
		return ErrOutputOverflow
	}
	if o.q == nil {
		o.q = getQueue()
	}
	copy(o.q.malloc(len(w)), w)
	o.accountLocked(len(w))
	o.sentFrames += uint64(frames)
	o.sentBytes += uint64(payload)
	start := o.kickLocked()
	o.mu.Unlock()
	if start {
		o.goFlush()
	}
	return nil
}

// stats returns the counters with what send counted added in, and the
// bytes queued. r[impl link.stats]
func (o *output) stats() framelink.Stats {
	s := o.counters.Snapshot()
	o.mu.Lock()
	s.FramesOut += o.sentFrames
	s.BytesOut += o.sentBytes
	s.FramesIn += o.recvFrames
	s.BytesIn += o.recvBytes
	s.QueuedBytes = o.budget.Queued() + int64(o.unacct)
	o.mu.Unlock()
	return s
}

// closedLocked returns the error a commit fails with now, if any. Once a
// local close began (shut: Tx.Close, or a served Close) that is shut,
// whatever ended the connection since: a commit racing Tx.Close may reach
// the sink after the half-close was made and the peer, seeing it, hung up
// (o.err is then errPeerClosed), and it must fail with ErrClosed like any
// commit after Tx.Close began (r[link.tx.close]).
func (o *output) closedLocked() error {
	if o.shut != nil {
		return o.shut
	}
	if o.err != nil {
		if o.localClosed != nil && o.localClosed.Load() {
			return framelink.ErrClosed
		}
		return o.err
	}
	return nil
}

// overLocked reports whether a served connection's output is already
// above its limit (high: see outputLimit).
func (o *output) overLocked() bool {
	return o.served && o.budget.Queued()+int64(o.unacct) > o.high
}

// kickLocked reports whether the caller must start a writer (and marks it
// started): there is something to write, no writer runs, and no OnRequest
// batch will write at its end.
func (o *output) kickLocked() bool {
	if o.flushing || o.err != nil || o.q == nil || o.batching.Load() {
		return false
	}
	o.flushing = true
	return true
}

// beginBatch is called by OnRequest before it delivers frames: replies
// committed until endBatch are written together at its end.
func (o *output) beginBatch() { o.batching.Store(true) }

// endBatch ends a batch and writes the replies, if any, from the calling
// (worker) goroutine.
func (o *output) endBatch() { o.finishBatch(0, 0) }

// finishBatch is endBatch that also counts frames received of bytes
// payload bytes (under the lock it takes anyway).
func (o *output) finishBatch(frames, bytes uint64) {
	o.batching.Store(false)
	o.mu.Lock()
	o.recvFrames += frames
	o.recvBytes += bytes
	if o.kickLocked() {
		o.writeLocked(true)
		return
	}
	o.mu.Unlock()
}

// maxInlineRounds bounds the writevs a committer makes as the writer
// before it hands the writing to a flusher goroutine (other goroutines may
// keep committing).
const maxInlineRounds = 4

// flushLoop is the flusher goroutine's body: write(false).
func (o *output) flushLoop() { o.write(false) }

// goFlush hands the writer's turn to a new flusher goroutine. Only the
// writer (flushing set) calls it.
func (o *output) goFlush() {
	if o.flushFn == nil {
		o.flushFn = o.flushLoop
	}
	go o.flushFn()
}

// write is the writer (the caller set flushing): it writes the queue until
// it is empty. inline: called by a committer, which must not wait for the
// network, so when the socket is full (or after maxInlineRounds) the rest
// goes to a flusher goroutine. Otherwise (the flusher) a full socket is
// waited for through netpoll's Writer.
// r[impl link.tx.coalesce] r[impl link.tx.backpressure]
func (o *output) write(inline bool) {
	o.mu.Lock()
	o.writeLocked(inline)
}

// writeLocked is write with mu held; it releases mu.
func (o *output) writeLocked(inline bool) {
	for round := 0; ; round++ {
		if o.err != nil {
			o.dropLocked()
			break
		}
		q := o.q
		if q == nil {
			break
		}
		if inline && round == maxInlineRounds {
			o.mu.Unlock()
			o.goFlush()
			return
		}
		o.q = nil
		o.settleLocked()
		o.mu.Unlock()
		total := q.n
		written, err := q.writeTo(o.fd)
		if err == nil && q.n > 0 {
			// The socket is full.
			if inline {
				o.budget.Sub(written)
				o.mu.Lock()
				if o.q != nil {
					q.prepend(o.q)
				}
				o.q = q
				o.mu.Unlock()
				o.goFlush()
				return
			}
			err = o.flushRest(q)
		}
		o.budget.Sub(total)
		q.free()
		o.mu.Lock()
		if err != nil {
			o.lost = true
			if o.err == nil { // else closed here: keep that error
				o.err = writeErr(err, false, o.conn.IsActive())
			}
			o.dropLocked()
			o.stopLocked()
			werr := o.err
			o.mu.Unlock()
			o.owner.outputFailed(werr)
			return
		}
	}
	o.stopLocked()
	drained := o.drain && o.err == nil
	if drained {
		o.drain = false
	}
	o.mu.Unlock()
	if drained {
		o.owner.outputDrained()
	}
}

// flushRest hands what q still holds to netpoll's Writer (a copy) and
// Flushes: netpoll's poller writes it as the socket drains, and Flush
// returns once it did (or failed). Only the flusher goroutine calls it.
func (o *output) flushRest(q *queue) error {
	if o.ownWait {
		return o.writeRest(q)
	}
	w := o.conn.Writer()
	for i, b := range q.bufs {
		if i == 0 {
			b = b[q.off:]
		}
		dst, err := w.Malloc(len(b))
		if err != nil {
			return err
		}
		copy(dst, b)
	}
	return w.Flush()
}

// writeRest writes what q still holds through a duplicate of the
// descriptor registered with Go's runtime poller, which parks the flusher
// goroutine until the socket is writable (a duplicate shares the socket;
// netpoll's registration of the original is left alone). Closing the
// connection (shutdown first, see link.closeConn) wakes it with an error.
// Only the flusher goroutine calls it.
func (o *output) writeRest(q *queue) error {
	d, err := unix.FcntlInt(uintptr(o.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(d), "framelink/netpoll")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	o.mu.Lock()
	if o.err != nil {
		err = o.err
		o.mu.Unlock()
		return err
	}
	o.waitFile = f
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.waitFile = nil
		o.mu.Unlock()
	}()
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		_, werr = q.writeTo(int(fd))
		return werr != nil || q.n == 0
	})
	if werr != nil {
		return werr
	}
	return err
}

// wakeLocked ends a writeRest wait (o.err is set: the output is over).
func (o *output) wakeLocked() {
	if o.waitFile != nil {
		_ = o.waitFile.SetWriteDeadline(time.Unix(1, 0))
	}
}

// stopLocked ends the writer's turn and wakes whoever waits for it.
func (o *output) stopLocked() {
	o.flushing = false
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
}

// waitLocked waits (mu released meanwhile) until the running writer stops.
func (o *output) waitLocked() {
	if o.wake == nil {
		o.wake = make(chan struct{})
	}
	c := o.wake
	o.mu.Unlock()
	<-c
	o.mu.Lock()
}

// dropLocked gives queued frames back and their bytes to the budget.
func (o *output) dropLocked() {
	if q := o.q; q != nil {
		o.lost = true
		o.q = nil
		if n := q.n - o.unacct; n > 0 {
			o.budget.Sub(n)
		}
		o.unacct = 0
		q.free()
	}
}

// waitDrained waits until every committed frame was handed to the kernel
// (or the output failed) and returns the failure, if any: none if the
// connection ended after the output had drained.
func (o *output) waitDrained() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.err == nil && (o.flushing || o.q != nil) {
		if !o.flushing {
			o.flushing = true
			o.goFlush()
		}
		o.waitLocked()
	}
	if o.drained {
		return nil
	}
	return o.err
}

// shutDrain makes later commits fail with err and calls outputDrained once the
// frames committed so far are written (at once if there are none). It
// reports false if the output already failed (outputDrained is not called).
func (o *output) shutDrain(err error) bool {
	o.mu.Lock()
	if o.shut == nil {
		o.shut = err
	}
	if o.err != nil {
		o.mu.Unlock()
		return false
	}
	empty := !o.flushing && o.q == nil
	if !empty {
		o.drain = true
	}
	if o.kickLocked() {
		o.writeLocked(true)
	} else {
		o.mu.Unlock()
	}
	if empty {
		o.owner.outputDrained()
	}
	return true
}

// fail makes the socket off limits from now on (commits return err) and
// drops what was queued. It does not wait for a running writer: call it
// before closing the connection, which wakes a flusher blocked in Flush.
func (o *output) fail(err error) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
	}
	o.wakeLocked()
	o.dropLocked()
	o.mu.Unlock()
}

// closeWait is called from the connection's close callback, before netpoll
// closes the descriptor and frees its buffers: it fails the output (if not
// yet) and waits until the writer has stopped (closing the connection woke
// a flusher in netpoll's Flush; one waiting in writeRest is woken here),
// so nothing writes to the descriptor afterwards.
func (o *output) closeWait(err error) {
	o.mu.Lock()
	first := o.err == nil
	if first {
		o.err = err
	}
	o.wakeLocked()
	for o.flushing {
		o.waitLocked()
	}
	o.dropLocked()
	// A writer that was finishing its last write when the connection
	// ended may have got it all out.
	o.drained = first && !o.lost
	o.mu.Unlock()
}
