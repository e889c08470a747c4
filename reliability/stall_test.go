package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// Non-reading peers (r[link.tx.backpressure], r[serve.reply]): the bytes
// committed but not yet written (Stats().QueuedBytes) never exceed the
// high-water mark plus one frame per sender, whatever the peer does.

const (
	stallFrame   = 16 << 10
	stallHigh    = 256 << 10
	stallLow     = 64 << 10
	stallSenders = 4
)

var stallOpts = framelink.Options{MaxFrame: 64 << 10, HighWater: stallHigh, LowWater: stallLow}

// sampler tracks the peak of a queue and checks it against a bound.
type sampler struct {
	t     *testing.T
	what  string
	bound int64
	get   func() int64
	peak  int64
	n     int
	bad   bool
}

func (s *sampler) sample() {
	q := s.get()
	s.n++
	if q > s.peak {
		s.peak = q
	}
	if q > s.bound && !s.bad {
		s.bad = true
		s.t.Errorf("%s: QueuedBytes = %d, above the high-water mark %d plus one frame per sender (bound %d)", s.what, q, stallHigh, s.bound)
	}
}

// untilQuiet samples until progress() has not moved for 300 consecutive
// samples (at least 300 ms: the peer's window and the link's budget are
// both full) and ready() holds, or stop() holds. It is only how the test
// decides that the steady state is reached; what it asserts is the bound
// on every sample.
func untilQuiet(t *testing.T, s *sampler, progress func() int64, ready, stop func() bool) {
	t.Helper()
	last, still := progress(), 0
	deadline := time.Now().Add(hangLimit)
	for still < 300 || (ready != nil && !ready()) {
		s.sample()
		if stop != nil && stop() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never reached a steady state (progress %d)", s.what, progress())
		}
		if p := progress(); p != last {
			last, still = p, 0
		} else {
			still++
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// heapGrowth returns the live heap growth since heap0.
func heapGrowth(heap0 uint64) uint64 {
	h := liveHeap()
	if h < heap0 {
		return 0
	}
	return h - heap0
}

// maxHeapGrowth bounds the live heap a stalled peer may cost: far above
// the high-water marks and socket buffers involved, far below what an
// unbounded buffer reaches in the same time.
const maxHeapGrowth = 64 << 20

// liveHeap returns the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStalledPeer: a peer that stops reading.
//
// r[verify link.tx.backpressure] r[verify serve.reply] r[verify link.tx.cancel]
func TestStalledPeer(t *testing.T) {
	t.Run("link", func(t *testing.T) {
		ran := false
		for _, e := range allEngines() {
			if e.dial == nil && e.pipe == nil {
				continue
			}
			ran = true
			t.Run(e.name, func(t *testing.T) {
				checkLeaks(t, e)
				noteTried(e.name, "non-reading peer (link)")
				stalledLink(t, e)
			})
		}
		if !ran {
			t.Skip("no engine registered yet")
		}
	})
	t.Run("server", func(t *testing.T) {
		forServers(t, "non-reading peer", nil, stalledServer)
	})
	t.Run("receiver", func(t *testing.T) {
		forClients(t, "application not calling Recv", stalledReceiver)
	})
}

// stallBatch is what a stalling raw peer writes per Write call: the wire
// bytes of 16 zeroed frames of stallFrame bytes.
func stallBatch() []byte {
	frame := encode(make([]byte, stallFrame))
	batch := make([]byte, 0, 16*len(frame))
	for range 16 {
		batch = append(batch, frame...)
	}
	return batch
}

// stalledReceiver: a raw peer writes frames as fast as it can to a
// dialed link whose application never calls Recv. The link must stop
// reading the socket (the kernel's window then stops the peer) instead
// of buffering the input without bound.
func stalledReceiver(t *testing.T, e *engine) {
	ln := rawListen(t)
	l := dialLink(t, e, ln.Addr().String(), stallOpts)
	peer := acceptRaw(t, ln)
	peer.SetDeadline(time.Time{})
	heap0 := liveHeap()
	batch := stallBatch()
	var written atomic.Int64
	wdone := make(chan error, 1)
	go func() {
		for written.Load() <= 256<<20 {
			n, err := peer.Write(batch)
			written.Add(int64(n))
			if err != nil {
				wdone <- err
				return
			}
		}
		wdone <- nil
	}()
	s := &sampler{t: t, what: e.name + " receiver", bound: 1 << 62, get: func() int64 { return 0 }}
	stopped := func() bool {
		select {
		case err := <-wdone:
			wdone <- err
			return true
		default:
			return false
		}
	}
	untilQuiet(t, s, written.Load, nil, stopped)
	heap := heapGrowth(heap0)
	t.Logf("%s link not calling Recv: the peer wrote %.1f MiB before it was held off; live heap growth %.1f MiB",
		e.name, float64(written.Load())/(1<<20), float64(heap)/(1<<20))
	if heap > maxHeapGrowth || written.Load() > 256<<20 {
		t.Errorf("%s: a link whose application does not Recv buffered %.1f MiB of input (the peer wrote %.1f MiB): no bound on receive memory",
			e.name, float64(heap)/(1<<20), float64(written.Load())/(1<<20))
	}
	notePeak(e.name, 0, 0, heap, fmt.Sprintf("(not receiving: peer held off after %.1f MiB)", float64(written.Load())/(1<<20)))
	l.Close()
	peer.SetLinger(0)
	peer.Close()
	<-wdone
}

// stalledLink: stallSenders goroutines send on a link whose peer never
// reads, until every one of them is blocked in Reserve; then their
// contexts are cancelled.
func stalledLink(t *testing.T, e *engine) {
	var l framelink.Link
	if e.pipe != nil {
		a, b, err := e.pipe(stallOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		l = a
	} else {
		ln := rawListen(t)
		l = dialLink(t, e, ln.Addr().String(), stallOpts)
		peer := acceptRaw(t, ln)
		peer.SetReadBuffer(4 << 10)
	}
	heap0 := liveHeap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var commits, inReserve atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, stallSenders)
	for g := range stallSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				inReserve.Add(1)
				p, err := l.Tx().Reserve(ctx)
				inReserve.Add(-1)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						errs[g] = fmt.Errorf("Reserve: %w", err)
					}
					return
				}
				s, err := p.Alloc(stallFrame)
				if err != nil {
					errs[g] = fmt.Errorf("Alloc: %w", err)
					return
				}
				if err := s.Commit(); err != nil {
					errs[g] = fmt.Errorf("Commit: %w", err)
					return
				}
				commits.Add(1)
			}
		}()
	}
	s := &sampler{t: t, what: e.name + " link", bound: stallHigh + stallSenders*(stallFrame+4), get: func() int64 { return l.Stats().QueuedBytes }}
	// Steady state: no commit for a while, every sender waiting in Reserve.
	untilQuiet(t, s, commits.Load, func() bool { return inReserve.Load() == stallSenders }, nil)
	// Every sender waits in Reserve: the budget must be over, i.e. the
	// queue passed HighWater and has not yet fallen under LowWater.
	if q := l.Stats().QueuedBytes; q < stallLow {
		t.Errorf("every sender is blocked in Reserve with only %d bytes queued (low-water mark %d): the link stalls", q, stallLow)
	}
	heap := heapGrowth(heap0)
	if heap > maxHeapGrowth {
		t.Errorf("%s link: live heap grew by %.1f MiB under a non-reading peer", e.name, float64(heap)/(1<<20))
	}
	cancel() // r[link.tx.cancel]: the blocked Reserves return ctx's error
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%s link: %d frames committed, peak QueuedBytes %d (bound %d), live heap growth %.1f MiB, %d samples",
		e.name, commits.Load(), s.peak, s.bound, float64(heap)/(1<<20), s.n)
	notePeak(e.name, s.peak, s.bound, heap, "")
	noteFrames(e.name, uint64(commits.Load()), 0, uint64(commits.Load())*stallFrame, 0)
}

// stalledServer: a raw client sends frames as fast as it can and never
// reads the echoes. The server must stop reading it (or, where the engine
// cannot pause reads, close it with an error) before its output passes
// the high-water mark plus one frame.
func stalledServer(t *testing.T, e *engine, k serverKind) {
	srv := startEcho(t, e, k, stallOpts, 6)
	c := rawDial(t, srv.addr)
	c.SetReadBuffer(4 << 10)
	heap0 := liveHeap()
	batch := stallBatch()
	var written atomic.Int64
	wdone := make(chan error, 1)
	go func() {
		for {
			n, err := c.Write(batch)
			written.Add(int64(n))
			if err != nil {
				wdone <- err
				return
			}
			if written.Load() > 256<<20 {
				wdone <- fmt.Errorf("wrote 256 MiB: the server never stopped reading")
				return
			}
		}
	}()
	waitFor(t, "the server connection", func() bool { return len(srv.snapshot()) > 0 })
	sc := srv.snapshot()[0]
	queued := func() int64 {
		if sc.conn != nil {
			return sc.conn.Stats().QueuedBytes
		}
		if sc.link != nil {
			return sc.link.Stats().QueuedBytes
		}
		return 0
	}
	closed := func() bool {
		select {
		case <-sc.done:
			return true
		default:
			return false
		}
	}
	s := &sampler{t: t, what: fmt.Sprintf("%s %s server", e.name, k), bound: stallHigh + stallFrame + 4, get: queued}
	untilQuiet(t, s, written.Load, nil, closed)
	s.peak = max(s.peak, sc.peakQueued.Load())
	if sc.peakQueued.Load() > s.bound {
		t.Errorf("%s: QueuedBytes right after an echo reached %d, above the bound %d", s.what, sc.peakQueued.Load(), s.bound)
	}
	heap := heapGrowth(heap0)
	if heap > maxHeapGrowth {
		t.Errorf("%s: live heap grew by %.1f MiB while the client wrote %.1f MiB without reading: input is buffered without bound",
			s.what, float64(heap)/(1<<20), float64(written.Load())/(1<<20))
	}
	note := ""
	switch {
	case closed():
		if !e.noPause || k != push {
			t.Errorf("%s closed the connection (%v) instead of pausing its reads", s.what, sc.closeErr)
		} else if sc.closeErr == nil {
			t.Errorf("%s closed the connection without an error", s.what)
		}
		note = fmt.Sprintf("(%s: closed: %v)", k, sc.closeErr)
	default:
		if e.noPause && k == push {
			t.Errorf("%s: documented to close a connection over the high-water mark, but it is still open with %d bytes queued", s.what, queued())
		}
		note = fmt.Sprintf("(%s: paused)", k)
	}
	t.Logf("%s: client wrote %.1f MiB, server read %d frames and committed %d echoes; peak QueuedBytes %d (bound %d); live heap growth %.1f MiB; %s",
		s.what, float64(written.Load())/(1<<20), sc.framesIn.Load(), sc.framesOut.Load(), s.peak, s.bound, float64(heap)/(1<<20), note)
	notePeak(e.name, s.peak, s.bound, heap, note)
	noteFrames(e.name, sc.framesOut.Load(), sc.framesIn.Load(), 0, 0)
	c.SetLinger(0)
	c.Close()
	if err := <-wdone; err == nil || (!errors.Is(err, net.ErrClosed) && !resetErr(err)) {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("raw writer ended with %v", err)
		}
	}
	srv.waitClosed(t, 1)
}
