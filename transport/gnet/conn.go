//go:build unix

package gnet

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
)

// conn is framelink's state for one gnet connection, kept in the gnet
// Conn's Context (the engine owns its gnet handler, so that slot is free).
// It is the push API's framelink.Conn, and through the pullLink and
// rxHalf views the pull API's Link.
//
// Fields are owned in three groups: those under mu are shared between the
// loop and other goroutines; those marked "loop" are touched only on the
// connection's event loop (inside gnet callbacks); the atomics are read by
// the ticker goroutine.
type conn struct {
	e      *engine
	gc     gn.Conn
	opts   *framelink.Options
	local  net.Addr
	remote net.Addr
	taskFn gn.AsyncCallback // c.task, bound once so kicks do not allocate it

	counters framelink.Counters
	budget   *sendq.Budget
	tx       atomic.Pointer[sendq.Tx] // made on first use on a push conn (sendTx)

	mu           sync.Mutex
	pending      *[][]byte // committed frames not yet written; nil when empty
	pendOff      int       // bytes of (*pending)[0] already written
	win          []byte    // the input window the loop is walking (echo.go); nil otherwise
	spanLo       int       // win[spanLo:spanHi] is echoed and not yet written or copied
	spanHi       int
	outFrames    int // frames sent with Send or Echo (Stats adds them to counters)
	outBytes     int
	inFrames     int // push frames delivered (Stats adds them to counters)
	inBytes      int
	unacct       int    // bytes sent during a loop run, not yet added to the budget (see deferLocked)
	writing      bool   // a writer owns the socket's write side (see write.go)
	writerLoop   bool   // that writer is the loop
	gnetBusy     bool   // gnet's outbound buffer may hold bytes: no direct writes
	accOpen      bool   // the last pending segment is a Send accumulator with room
	lastDirectIn uint64 // FramesIn at the last direct write
	fd           int
	inLoop       bool // the loop is inside service for this conn and will flush
	taskQueued   bool // a service task is queued on the loop
	closed       bool // OnClose ran: never hand gnet anything again
	closeAsked   bool // a local Close was asked
	txClosing    bool // Tx.Close asked for a half-close
	wrShut       bool // Server.Shutdown shut the write side: commits return ErrClosed
	txDoneShut   bool // txDone is closed
	txDone       chan struct{}
	txErr        error
	userCtx      any

	userClosed atomic.Bool // Close was asked: deliver no more frames

	// loop
	lCloseAsked bool // closeAsked as of the last flush
	lTxClosing  bool // txClosing as of the last flush
	draining    bool // at end of stream: decode regardless of pauses
	runFrames   int  // push frames delivered this run, not yet in inFrames
	runBytes    int
	partial     []byte // a large frame being assembled in a pool buffer
	have        int    // bytes of partial filled
	gnetOut     int    // gnet's outbound bytes at the last look
	frameStart  int64  // engine clock when the current frame's first bytes arrived; 0 if none
	lastFrame   int64  // engine clock of the last whole frame (or open/resume)
	now         int64  // engine clock of this service run (only with timeouts)
	closeErr    error  // why the engine is closing this connection
	shutWR      bool   // the write side was shut (Tx.Close done)
	dead        bool   // OnClose ran
	readOff     bool   // read events are switched off (paused)
	wasPaused   bool
	isWatched   bool
	spanWriter  bool // endWindow wrote and still holds writing, until flush
	epfd        int  // loop's epoll fd + 1; 0 unknown, -1 unavailable

	// ticker
	deadline atomic.Int64 // engine clock at which a timeout fires; 0 none
	watched  atomic.Bool  // needs the ticker: output waiting in gnet, or a half-close
	regIdx   int          // index in engine.reg, under engine.regMu

	// high-water marks observed while paused (tests)
	maxQueued atomic.Int64
	maxHeld   atomic.Int64

	// pull links only
	rx       *rxQueue
	wo       *writeOnly    // after the peer's half-close (rescue.go); under mu
	closedCh chan struct{} // closed once OnClose ran
	closing  sync.Once
	accepted bool // handed out by Accept (server side); under engine.acceptMu
}

func newConn(e *engine, o *framelink.Options, pull bool) *conn {
	c := &conn{e: e, opts: o}
	c.taskFn = c.task
	c.budget = sendq.NewBudget(o.HighWater, o.LowWater)
	if pull {
		c.sendTx()
		c.rx = newRxQueue(o.HighWater, o.LowWater)
		c.closedCh = make(chan struct{})
	}
	return c
}

// sendTx returns c's sendq.Tx (slots, and a pull link's Tx). A push
// connection makes it on its first Alloc: most handlers only Send or Echo,
// and an idle connection should cost little (r[perf.idle]).
func (c *conn) sendTx() *sendq.Tx {
	if t := c.tx.Load(); t != nil {
		return t
	}
	t := sendq.NewTx((*sink)(c), c.budget, &c.counters, c.opts.MaxFrame, c.closeTx)
	if c.tx.CompareAndSwap(nil, t) {
		return t
	}
	return c.tx.Load()
}

// bind attaches c to its gnet connection (on the loop, in OnOpen).
func (c *conn) bind(gc gn.Conn) {
	c.gc = gc
	c.fd = gc.Fd()
	c.local, c.remote = gc.LocalAddr(), gc.RemoteAddr()
	gc.SetContext(c)
}

// sink is the sendq.Sink view of a conn.
type sink conn

// Alloc implements sendq.Sink: slot memory is a pool buffer with the
// header in front. gnet's outbound buffer cannot be used in place: gnet
// has no "reserve n bytes" API, and its buffer may only be touched on the
// loop while slots are written from any goroutine.
func (s *sink) Alloc(n int) ([]byte, error) { return pool.Get(codec.HeaderSize + n), nil }

// Discard implements sendq.Sink.
func (s *sink) Discard(frame []byte) { pool.Put(frame) }

// Commit implements sendq.Sink. Inside a callback of this connection the
// frame joins the batch the loop writes when the callback returns; from
// any other goroutine it queues a service task on the loop (gnet's
// AsyncWritev with an empty vector: its callback runs on the loop and
// writes every frame committed by then in one writev). It never waits.
// r[impl link.tx.commit] r[impl link.tx.coalesce] r[impl serve.reply]
func (s *sink) Commit(frame []byte) error {
	c := (*conn)(s)
	c.mu.Lock()
	// r[impl link.tx.close]: once Tx.Close set txClosing (under mu) no
	// frame joins pending, so the half-close, which the loop (or the
	// write-only goroutine) makes only after seeing txClosing and an empty
	// pending under mu, comes after every commit that returned nil.
	if c.closed || c.closeAsked || c.txClosing || c.wrShut {
		c.mu.Unlock()
		pool.Put(frame)
		return framelink.ErrClosed
	}
	if c.spanHi != c.spanLo {
		c.sealSpanLocked()
	}
	if c.pending == nil {
		c.pending = batchPool.Get().(*[][]byte)
	}
	*c.pending = append(*c.pending, frame)
	c.accOpen = false // later sends must not be appended before this frame
	// Bytes sent earlier in this loop run are counted first: with them
	// left out, this frame could take the output over the high-water mark
	// unseen, and the next send over it by a second frame.
	c.accountLocked()
	c.noteQueued(c.budget.Add(len(frame)))
	direct := c.afterAppendLocked()
	c.mu.Unlock()
	if direct {
		c.directWrite()
	}
	return nil
}

// kick queues a service run on c's loop unless one is queued already.
// Safe from any goroutine.
func (c *conn) kick() {
	c.mu.Lock()
	c.kickLocked()
	c.mu.Unlock()
}

// kickLocked is kick with c.mu held. Holding mu while triggering matters:
// OnClose takes mu to set closed, and gnet closes a loop's poller only
// after every connection's OnClose ran, so a trigger never reaches a
// closed (and maybe reused) eventfd.
func (c *conn) kickLocked() {
	if c.wo != nil {
		c.wo.wake(c.closeAsked)
		return
	}
	if c.closed || c.taskQueued || c.gc == nil {
		return
	}
	c.taskQueued = true
	if err := c.gc.AsyncWritev(nil, c.taskFn); err != nil {
		c.taskQueued = false
	}
}

// task is the loop side of kick: gnet calls it on the loop after its
// (empty) asynchronous writev.
func (c *conn) task(_ gn.Conn, err error) error {
	c.mu.Lock()
	c.taskQueued = false
	c.mu.Unlock()
	if err != nil || c.dead {
		return nil
	}
	if c.service(false) == gn.Close && !c.dead {
		_ = c.gc.EventLoop().Close(c.gc)
	}
	return nil
}

// requestClose asks the loop to close c after flushing what was
// committed. Safe from any goroutine, never blocks.
func (c *conn) requestClose() {
	c.userClosed.Store(true)
	c.mu.Lock()
	if !c.closed {
		c.closeAsked = true
		c.kickLocked()
	}
	c.mu.Unlock()
}

// closeTx implements Tx.Close after sendq.Tx shut Reserve: the loop
// flushes every committed frame, waits for gnet's outbound buffer to
// drain, then shuts the socket's write side (r[link.tx.close]).
func (c *conn) closeTx() error {
	c.mu.Lock()
	if c.txDone == nil {
		c.txDone = make(chan struct{})
	}
	done := c.txDone
	switch {
	case c.closed || c.userClosed.Load():
		if !c.txDoneShut {
			c.txDoneShut = true
			c.txErr = framelink.ErrClosed
			close(done)
		}
	default:
		c.txClosing = true
		c.kickLocked()
	}
	c.mu.Unlock()
	<-done
	c.mu.Lock()
	err := c.txErr
	c.mu.Unlock()
	return err
}

// finishTx completes a pending Tx.Close with err (nil: the write side was
// shut after everything was written).
func (c *conn) finishTx(err error) {
	c.mu.Lock()
	if c.txDone != nil && !c.txDoneShut {
		c.txDoneShut = true
		c.txErr = err
		close(c.txDone)
	}
	c.mu.Unlock()
}

// batchPool recycles the slices of pending segments, so an idle
// connection keeps none and steady state does not allocate.
var batchPool = sync.Pool{New: func() any { s := make([][]byte, 0, 16); return &s }}

// accSize is the size of the pool buffers that Send appends frames to:
// consecutive small frames sent by a handler share one buffer, which is
// written as is, with no copy at flush time.
const accSize = 32 << 10

// mergeMax is the largest batch of several segments copied into one
// buffer for a single write; larger batches go out with writev.
const mergeMax = 8 << 10

// iovMax bounds one writev (Linux's IOV_MAX is 1024; gnet passes the
// vector to writev unchecked).
const iovMax = 1024

// Send implements framelink.Conn: p is copied and committed; not
// retained. The frame is appended to the pending accumulator (one copy,
// no per-frame buffer or permit), in order with committed slots. Safe
// from any goroutine; inside a callback of c it joins the batch written
// when the callback returns.
// r[impl link.tx.coalesce]
func (c *conn) Send(p []byte) error {
	if err := codec.CheckSize(uint64(len(p)), c.opts.MaxFrame); err != nil {
		return err
	}
	c.mu.Lock()
	return c.sendLocked(p)
}

// sendLocked is Send with c.mu held; it unlocks it.
func (c *conn) sendLocked(p []byte) error {
	if c.closed || c.closeAsked || c.txClosing || c.wrShut { // see sink.Commit
		c.mu.Unlock()
		return framelink.ErrClosed
	}
	if c.spanHi != c.spanLo {
		c.sealSpanLocked()
	}
	n := codec.HeaderSize + len(p)
	seg := c.segLocked(n)
	*seg = appendFrame(*seg, p)
	c.outFrames++
	c.outBytes += len(p)
	return c.committedLocked(n)
}

// sendWireLocked is sendLocked for frames already encoded: wire holds
// frames whole frames with payload bytes of payload in all (c.mu held; it
// unlocks it).
func (c *conn) sendWireLocked(wire []byte, frames, payload int) error {
	if c.closed || c.closeAsked || c.txClosing || c.wrShut { // see sink.Commit
		c.mu.Unlock()
		return framelink.ErrClosed
	}
	if c.spanHi != c.spanLo {
		c.sealSpanLocked()
	}
	seg := c.segLocked(len(wire))
	*seg = append(*seg, wire...)
	c.outFrames += frames
	c.outBytes += payload
	return c.committedLocked(len(wire))
}

// committedLocked counts n bytes just appended to pending and starts a
// write if a commit outside a loop run needs one (c.mu held; it unlocks
// it).
func (c *conn) committedLocked(n int) error {
	if c.inLoop && c.wo == nil {
		c.deferLocked(n)
		c.mu.Unlock()
		return nil
	}
	c.noteQueued(c.budget.Add(n))
	direct := c.afterAppendLocked()
	c.mu.Unlock()
	if direct {
		c.directWrite()
	}
	return nil
}

// deferLocked counts n bytes sent during a loop run (c.mu held). The loop
// flushes when its run ends (flush adds the bytes to the budget then), so
// the budget is updated once per run, not per frame, unless this frame
// takes the queue over the high-water mark: then it is updated now, so
// the pause is decided at the same frame as without the deferral.
// (Queued is a plain load; the budget's atomic add is what is saved.)
func (c *conn) deferLocked(n int) {
	c.unacct += n
	if c.unacct >= deferMax || c.budget.Queued()+int64(c.unacct) > int64(c.opts.HighWater) {
		c.accountLocked()
	}
}

// segLocked returns the pending segment to append the next n bytes to
// (c.mu held): the open Send accumulator if it has room, else a new pool
// buffer, an accumulator of accSize for small frames.
func (c *conn) segLocked(n int) *[]byte {
	if c.pending == nil {
		c.pending = batchPool.Get().(*[][]byte)
	}
	segs := *c.pending
	k := len(segs)
	if c.accOpen && k > 0 && cap(segs[k-1])-len(segs[k-1]) >= n {
		return &segs[k-1]
	}
	size := n
	c.accOpen = n <= accSize/2
	if c.accOpen {
		size = accSize
	}
	*c.pending = append(segs, pool.Get(size)[:0])
	return &(*c.pending)[k]
}

// deferMax bounds the bytes Sent during a loop run that the budget (and
// so Stats' QueuedBytes) may not show yet.
const deferMax = 64 << 10

// accountLocked adds the bytes Sent during this loop run to the budget
// (c.mu held).
func (c *conn) accountLocked() {
	if c.unacct > 0 {
		c.noteQueued(c.budget.Add(c.unacct))
		c.unacct = 0
	}
}

func appendFrame(b, p []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// noteQueued records the most output ever queued (for the tests' memory
// bounds); cheap unless the queue is past half the high-water mark.
func (c *conn) noteQueued(bool) {
	if q := c.budget.Queued(); q > int64(c.opts.HighWater/2) && q > c.maxQueued.Load() {
		c.maxQueued.Store(q)
	}
}

var iovPool = sync.Pool{New: func() any { s := make([][]byte, 0, 64); return &s }}

// syncOut accounts for what gnet's outbound buffer wrote to the kernel
// since the last look (gnet has no drain callback; the ticker looks while
// output waits). Only the loop's own writes fill that buffer, and each
// records what it left there (wroteGnet), so with nothing left at the
// last look there is nothing to account.
func (c *conn) syncOut() {
	if c.gnetOut == 0 {
		return
	}
	out := c.gc.OutboundBuffered()
	if out < c.gnetOut {
		c.budget.Sub(c.gnetOut - out)
	}
	c.gnetOut = out
}

// setWatched tells the ticker whether c needs looking at.
func (c *conn) setWatched(w bool) {
	if c.isWatched == w {
		return
	}
	c.isWatched = w
	c.watched.Store(w)
	if w {
		c.e.watchers.Add(1)
	} else {
		c.e.watchers.Add(-1)
	}
}
