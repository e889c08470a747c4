//go:build !windows

package netpoll

import (
	"runtime"
	"sync"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
)

// output is the send path of one connection: a sendq.Sink over netpoll's
// Writer (r[transport.netpoll]).
//
// netpoll's Writer (a LinkBuffer) is not safe for concurrent use, and its
// Flush does three things in one call: it publishes every byte Malloc'd so
// far, writes what the socket takes, and, if the socket is full, waits
// until netpoll's poller has written the rest. So:
//
//   - mu guards every use of the Writer. While no flush is running, a frame
//     is written straight into the Writer (Malloc header+payload): Send
//     copies the caller's bytes there directly, one copy, exactly like a
//     hand-written netpoll server.
//   - One flusher at a time owns the Writer inside Flush (flushing). It runs
//     outside mu, so a full socket never blocks a committer (Commit must
//     not wait for the network, r[link.tx.commit]). Frames committed
//     meanwhile are Malloc'd into a second LinkBuffer (side), which the
//     flusher splices into the Writer without copying (Append) before its
//     next Flush: still one copy per frame, in commit order, and many
//     frames leave in one sendmsg (r[link.tx.coalesce]).
//   - Slots (Permit.Alloc) are pool buffers copied into the Writer at
//     Commit, not Malloc'd regions: a Malloc'd region cannot be taken back
//     once a later frame was Malloc'd behind it (MallocAck only truncates
//     the tail), and keeping the Writer locked from Alloc to Commit would
//     deadlock a goroutine that holds two slots and stall every other
//     sender (and the flusher) behind a slow writer. Discard and Release
//     therefore only give a pool buffer back; nothing half-written can
//     reach the Writer (r[link.tx.discard]).
//
// The byte budget counts bytes from commit until the Flush that carried
// them returns. Flush returns only once netpoll handed every published byte
// to the kernel (or failed), so the budget is honest
// (r[link.tx.backpressure]).
type output struct {
	w        netpoll.Writer
	budget   *sendq.Budget
	counters *framelink.Counters
	high     int64

	owner outputOwner
	conn  netpoll.Connection
	// served: a push-API connection. A frame committed while the budget
	// is above the high-water mark is refused and owner.outputOverflow
	// closes the connection (netpoll cannot pause reads), so the output
	// holds at most the high-water mark plus the frame that crossed it.
	served bool
	// flushFn is flushLoop as a func value made once: "go o.flushFn()"
	// does not allocate, "go o.flushFn()" does.
	flushFn func()

	mu       sync.Mutex
	idle     sync.Cond           // broadcast whenever a flusher stops
	flushing bool                // a flusher owns the Writer
	batching bool                // inside OnRequest: flush once at its end
	pending  int                 // bytes in the Writer not yet flushed
	side     *netpoll.LinkBuffer // frames committed while flushing (nil: none)
	sideLen  int                 // bytes Malloc'd in side
	shut     error               // commits fail with it (local close)
	err      error               // the Writer is off limits (closed or failed)
	drain    bool                // call owner.outputDrained once empty
	// Frames and payload bytes sent by send, counted under mu (cheaper
	// than two more atomic adds per frame); stats adds them in.
	sentFrames, sentBytes uint64
}

// outputOwner is told (without output.mu held) what happened to the output.
type outputOwner interface {
	outputFailed(err error) // a flush failed (once)
	outputOverflow()        // served only: a commit above the high-water mark
	outputDrained()         // the output is empty after shutDrain
}

func newOutput(owner outputOwner, served bool, conn netpoll.Connection, budget *sendq.Budget, counters *framelink.Counters, high int) *output {
	o := &output{owner: owner, served: served, conn: conn, w: conn.Writer(), budget: budget, counters: counters, high: int64(high)}
	o.idle.L = &o.mu
	o.flushFn = o.flushLoop
	return o
}

// Alloc implements sendq.Sink: a pool buffer with header room.
func (o *output) Alloc(n int) ([]byte, error) { return pool.Get(codec.HeaderSize + n), nil }

// Discard implements sendq.Sink: the frame was never in the Writer, so
// nothing of it can be flushed. r[impl link.tx.discard]
func (o *output) Discard(frame []byte) { pool.Put(frame) }

// Commit implements sendq.Sink: frame (header written) is copied into the
// Writer, or queued behind a running flush. It never waits for the network.
// r[impl link.tx.commit]
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
	copy(o.mallocLocked(n), frame)
	pool.Put(frame)
	o.budget.Add(n)
	start := o.kickLocked()
	o.mu.Unlock()
	o.after(start)
	return nil
}

// send publishes p as one frame, copied once, straight into the Writer
// when no flush is running. It never waits for the network.
func (o *output) send(p []byte) error {
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
	n := codec.HeaderSize + len(p)
	dst := o.mallocLocked(n)
	codec.PutHeader(dst, uint32(len(p)))
	copy(dst[codec.HeaderSize:], p)
	o.budget.Add(n)
	o.sentFrames++
	o.sentBytes += uint64(len(p))
	start := o.kickLocked()
	o.mu.Unlock()
	o.after(start)
	return nil
}

// stats returns the counters with what send counted added in, and the
// bytes queued. r[impl link.stats]
func (o *output) stats() framelink.Stats {
	s := o.counters.Snapshot()
	o.mu.Lock()
	s.FramesOut += o.sentFrames
	s.BytesOut += o.sentBytes
	o.mu.Unlock()
	s.QueuedBytes = o.budget.Queued()
	return s
}

// mallocLocked returns n bytes for a frame: in the Writer, or in side
// while a flusher owns the Writer.
func (o *output) mallocLocked(n int) []byte {
	if o.flushing {
		if o.side == nil {
			o.side = netpoll.NewLinkBuffer()
		}
		o.sideLen += n
		b, _ := o.side.Malloc(n)
		return b
	}
	o.pending += n
	b, _ := o.w.Malloc(n)
	return b
}

func (o *output) closedLocked() error {
	if o.err != nil {
		return o.err
	}
	return o.shut
}

// overLocked reports whether a served connection's output is already
// above the high-water mark (see overflow).
func (o *output) overLocked() bool {
	return o.served && o.budget.Queued() > o.high
}

// after runs what a commit decided under mu: start the flusher.
func (o *output) after(start bool) {
	if start {
		go o.flushFn()
	}
}

// kickLocked reports whether the caller must start a flusher (and marks it
// started): there is something to flush, none runs, and no OnRequest batch
// will flush at its end.
func (o *output) kickLocked() bool {
	if o.flushing || o.batching || o.err != nil || (o.pending == 0 && o.sideLen == 0) {
		return false
	}
	o.flushing = true
	return true
}

// beginBatch is called by OnRequest before it delivers frames: replies
// committed until endBatch are flushed together at its end.
func (o *output) beginBatch() {
	o.mu.Lock()
	o.batching = true
	o.mu.Unlock()
}

// endBatch ends a batch and starts the flusher if there is output.
func (o *output) endBatch() {
	o.mu.Lock()
	o.batching = false
	start := o.kickLocked()
	o.mu.Unlock()
	if start {
		go o.flushFn()
		// Let the flusher run now, on this P (it is next in line), while
		// the replies just copied are still in this core's cache: the
		// kernel's copy in sendmsg then reads hot memory, as in a
		// hand-written echo that flushes inline. Measured: about a quarter
		// less server CPU per 4 KiB echo than letting it run later.
		runtime.Gosched()
	}
}

// flushLoop is the flusher: it flushes until nothing is left. Frames
// committed while a Flush runs leave together in the next one.
// r[impl link.tx.coalesce] r[impl link.tx.backpressure] Only one
// runs at a time (flushing); it is the only user of the Writer while it
// runs Flush.
func (o *output) flushLoop() {
	o.mu.Lock()
	for {
		if o.err != nil {
			o.dropLocked()
			break
		}
		if o.side != nil {
			// Splice side's nodes behind the Writer's (no copy). side is
			// spent by Append; a fresh one is made when needed.
			_ = o.w.Append(o.side)
			o.pending += o.sideLen
			o.side, o.sideLen = nil, 0
		}
		n := o.pending
		if n == 0 {
			break
		}
		o.pending = 0
		o.mu.Unlock()
		err := o.w.Flush()
		o.budget.Sub(n)
		o.mu.Lock()
		if err != nil {
			if o.err == nil { // else closed here: keep that error
				o.err = writeErr(err, false, o.conn.IsActive())
			}
			o.dropLocked()
			o.flushing = false
			o.idle.Broadcast()
			werr := o.err
			o.mu.Unlock()
			o.owner.outputFailed(werr)
			return
		}
	}
	o.flushing = false
	o.idle.Broadcast()
	drained := o.drain && o.err == nil
	if drained {
		o.drain = false
	}
	o.mu.Unlock()
	if drained {
		o.owner.outputDrained()
	}
}

// dropLocked gives queued frames back and their bytes to the budget.
func (o *output) dropLocked() {
	n := o.pending + o.sideLen
	if o.side != nil {
		_ = o.side.Close()
		o.side, o.sideLen = nil, 0
	}
	o.pending = 0
	if n > 0 {
		o.budget.Sub(n)
	}
}

// waitDrained waits until every committed frame was handed to the kernel
// (or the output failed) and returns the failure, if any.
func (o *output) waitDrained() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.err == nil && (o.flushing || o.pending > 0 || o.sideLen > 0) {
		if !o.flushing {
			o.flushing = true
			go o.flushFn()
		}
		o.idle.Wait()
	}
	return o.err
}

// shutDrain makes later commits fail with err and calls outputDrained once the
// frames committed so far are flushed (at once if there are none). It
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
	empty := !o.flushing && o.pending == 0 && o.sideLen == 0
	if !empty {
		o.drain = true
	}
	start := o.kickLocked()
	o.mu.Unlock()
	if start {
		go o.flushFn()
	}
	if empty {
		o.owner.outputDrained()
	}
	return true
}

// fail makes the Writer off limits from now on (commits return err) and
// drops what was queued. It does not wait for a running flusher: call it
// before closing the connection, which wakes that flusher.
func (o *output) fail(err error) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
	}
	if !o.flushing {
		o.dropLocked()
	}
	o.mu.Unlock()
}

// closeWait is called from the connection's close callback, before netpoll
// frees its buffers: it fails the output (if not yet) and waits until the
// flusher has left Flush (closing the connection woke it), so nothing
// touches the Writer afterwards.
func (o *output) closeWait(err error) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
	}
	for o.flushing {
		o.idle.Wait()
	}
	o.dropLocked()
	o.mu.Unlock()
}
