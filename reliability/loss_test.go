package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// lossConfig is the size of one matrix cell.
type lossConfig struct {
	conns      int // client connections per cell
	maxStreams int // concurrent sender streams per connection (1..maxStreams)
	frames     int // frames per stream (before a possible early close)
	maxFrame   int // MaxFrame of every link
}

var shortLoss = lossConfig{conns: 4, maxStreams: 3, frames: 60, maxFrame: 64 << 10}

// testSeed returns FRAMELINK_SEED or a fresh random seed.
func testSeed(t testing.TB) uint64 {
	if s := os.Getenv("FRAMELINK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("FRAMELINK_SEED=%q: %v", s, err)
		}
		return v
	}
	return rand.Uint64()
}

// soakDuration returns FRAMELINK_SOAK, or 0 for a short run.
func soakDuration(t testing.TB) time.Duration {
	s := os.Getenv("FRAMELINK_SOAK")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("FRAMELINK_SOAK=%q: %v", s, err)
	}
	return d
}

// A cell is one client engine × one server (engine, kind), or an
// in-process pair.
type cell struct {
	client, server *engine
	kind           serverKind // push, pull, or "" for an in-process pipe
}

func (c cell) name() string {
	if c.kind == "" {
		return c.server.name + "-pipe"
	}
	return fmt.Sprintf("%s-to-%s-%s", c.client.name, c.server.name, c.kind)
}

// matrix returns every cell of the engines registered.
func matrix() []cell {
	var cells []cell
	for _, cl := range allEngines() {
		if cl.dial == nil {
			continue
		}
		for _, sv := range netEngines() {
			for _, k := range sv.kinds() {
				cells = append(cells, cell{client: cl, server: sv, kind: k})
			}
		}
	}
	for _, e := range allEngines() {
		if e.pipe != nil {
			cells = append(cells, cell{client: e, server: e})
		}
	}
	return cells
}

// cellTotals accumulates what a cell moved over all its rounds.
type cellTotals struct {
	rounds, conns, frames, bytes, early uint64
	ops                                 opCounts
}

// TestLossMatrix: every client engine against every server engine, many
// connections with concurrent senders of random frames through random
// permit/slot sequences, and a graceful close racing the senders. Exactly
// the frames whose Commit returned nil come back, in order, intact, then
// io.EOF.
//
// r[verify link.order] r[verify link.message] r[verify link.tx.close]
// r[verify link.tx.concurrent] r[verify link.tx.reserve]
// r[verify link.tx.permit.release] r[verify link.tx.discard]
// r[verify link.tx.commit] r[verify link.tx.misuse]
// r[verify link.tx.alloc.limits] r[verify link.tx.cancel]
// r[verify link.rx.eof] r[verify link.stats] r[verify wire.empty]
// r[verify wire.max] r[verify transport.interop] r[verify serve.handler]
// r[verify serve.pull]
func TestLossMatrix(t *testing.T) {
	cells := matrix()
	if len(cells) == 0 {
		t.Skip("no engine registered yet")
	}
	seed := testSeed(t)
	t.Logf("seed %#x (FRAMELINK_SEED to repeat)", seed)
	soak := soakDuration(t)
	totals := map[string]*cellTotals{}
	for _, c := range cells {
		totals[c.name()] = &cellTotals{}
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(seed, 1))
	failed := map[string]string{} // a cell that failed is not run again
	for round := 0; ; round++ {
		for _, c := range cells {
			if failed[c.name()] != "" {
				continue
			}
			cfg := shortLoss
			o := framelink.Options{MaxFrame: uint32(cfg.maxFrame), HighWater: 256 << 10, LowWater: 64 << 10}
			if soak > 0 {
				cfg, o = soakConfig(t, rng)
			}
			tot := totals[c.name()]
			cellSeed := rng.Uint64()
			ok := t.Run(fmt.Sprintf("%s/round%d", c.name(), round), func(t *testing.T) {
				runCell(t, c, cfg, o, cellSeed, tot)
			})
			if !ok {
				failed[c.name()] = fmt.Sprintf("round %d (cell seed %#x, %+v, options %+v)", round, cellSeed, cfg, o)
				t.Errorf("cell %s failed in %s", c.name(), failed[c.name()])
			}
		}
		if soak == 0 || time.Since(start) >= soak || len(failed) == len(cells) {
			break
		}
	}
	var all cellTotals
	for _, c := range cells {
		tot := totals[c.name()]
		verdict := "lost/dup/reordered/corrupt 0"
		if f := failed[c.name()]; f != "" {
			verdict = "FAILED in " + f
		}
		t.Logf("%-28s rounds %4d  conns %6d  frames %9d  bytes %8.1f MiB  early closes %5d  %s",
			c.name(), tot.rounds, tot.conns, tot.frames, float64(tot.bytes)/(1<<20), tot.early, verdict)
		all.rounds += tot.rounds
		all.conns += tot.conns
		all.frames += tot.frames
		all.bytes += tot.bytes
		all.ops.add(tot.ops)
	}
	verdict := "zero frames lost, duplicated, reordered or corrupted"
	if len(failed) > 0 {
		verdict = fmt.Sprintf("%d cell(s) FAILED (see above); the others lost, duplicated, reordered or corrupted nothing", len(failed))
	}
	t.Logf("TOTAL %d cells, %d cell-rounds, %d connections, %d frames echoed, %.1f MiB, in %v: %s",
		len(cells), all.rounds, all.conns, all.frames, float64(all.bytes)/(1<<20), time.Since(start).Round(time.Second), verdict)
	o := all.ops
	t.Logf("ops: reserve %d, release %d, dropped permits %d, alloc %d, discard %d, misuse checks %d, commit %d, send %d, out-of-order pairs %d, cancelled reserves %d",
		o.reserve, o.release, o.drop, o.alloc, o.discard, o.misuse, o.commit, o.send, o.pairs, o.cancel)
}

// soakConfig draws the size of one soak cell.
func soakConfig(t testing.TB, rng *rand.Rand) (lossConfig, framelink.Options) {
	maxFrame := 1 << 20
	if s := os.Getenv("FRAMELINK_SOAK_MAXFRAME"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < tagSize {
			t.Fatalf("FRAMELINK_SOAK_MAXFRAME=%q: want an integer >= %d", s, tagSize)
		}
		maxFrame = v
	}
	sizes := []int{tagSize, 4 << 10, 64 << 10, maxFrame}
	cfg := lossConfig{
		conns:      1 + rng.IntN(24),
		maxStreams: 1 + rng.IntN(4),
		frames:     20 + rng.IntN(300),
		maxFrame:   sizes[rng.IntN(len(sizes))],
	}
	o := framelink.Options{MaxFrame: uint32(cfg.maxFrame)}
	switch rng.IntN(3) {
	case 0:
		o.HighWater, o.LowWater = 64<<10, 16<<10
	case 1:
		o.HighWater, o.LowWater = 1<<20, 256<<10
	}
	return cfg, o
}

// runCell runs one round of one cell.
func runCell(t *testing.T, c cell, cfg lossConfig, o framelink.Options, seed uint64, tot *cellTotals) {
	checkLeaks(t, c.client, c.server)
	ctx, cancel := context.WithTimeout(context.Background(), 4*hangLimit)
	defer cancel()

	var srv *echoServer
	if c.kind == "" {
		srv = &echoServer{e: c.server, kind: "pipe", o: o}
	} else {
		so := o
		if c.kind == push && c.server.noPause {
			// A push server that cannot pause reading closes a connection
			// whose output passes HighWater (r[serve.reply]); an echo of a
			// client with megabytes in flight gets there even while the
			// client reads everything. Give such a server room for all
			// that can be in flight: the client's budget plus the kernel's
			// socket buffers.
			so.HighWater, so.LowWater = 64<<20, 16<<20
		}
		srv = startEcho(t, c.server, c.kind, so, seed)
	}

	var wg sync.WaitGroup
	results := make([]connResult, cfg.conns)
	for i := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			var l framelink.Link
			if c.kind == "" {
				a, b, err := c.server.pipe(o)
				if err != nil {
					r.err = fmt.Errorf("pipe: %w", err)
					return
				}
				srv.adopt(ctx, b, seed)
				l = a
			} else {
				var err error
				l, err = c.client.dial(ctx, "tcp", srv.addr, o)
				if err != nil {
					r.err = fmt.Errorf("dial: %w", err)
					return
				}
			}
			defer l.Close()
			drain := c.kind != "" && (c.server.halfCloseEndsConn || c.client.hasBug(bugDrainAfterClose) || c.client.hasBug(bugCloseResets))
			// A push server that cannot pause reading closes a connection
			// whose echoes pile up (its poller reads ahead without bound),
			// so its clients keep at most a window of bytes unanswered.
			var window int64
			if c.kind == push && c.server.noPause {
				window = noPauseWindow
			}
			*r = runConn(ctx, l, uint32(i+1), cfg, seed^uint64(i)<<40, drain, window)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Errorf("conn %d (%s, seed %#x): %v", i+1, c.name(), seed, r.err)
		}
	}
	if c.kind == "" {
		srv.wg.Wait()
	} else {
		srv.waitClosed(t, int64(cfg.conns))
	}
	for _, err := range srv.errs() {
		t.Errorf("%s server: %v", c.name(), err)
	}
	for _, sc := range srv.snapshot() {
		if sc.closeErr != nil {
			t.Errorf("%s server conn %d ended with %v, want a clean end", c.name(), sc.id, sc.closeErr)
		}
	}
	if t.Failed() {
		for _, sc := range srv.snapshot() {
			t.Logf("server conn %d (first stream %#x): %d frames in, %d echoes committed, ended with %v",
				sc.id, sc.tag.Load(), sc.framesIn.Load(), sc.framesOut.Load(), sc.closeErr)
		}
		for i, r := range results {
			t.Logf("client conn %d: %d frames committed, %d received", i+1, r.sent, r.recv)
		}
		return
	}
	tot.rounds++
	for _, r := range results {
		tot.conns++
		tot.frames += r.recv
		tot.bytes += r.brecv
		tot.ops.add(r.ops)
		if r.early {
			tot.early++
		}
		noteFrames(c.client.name, r.sent, r.recv, r.bsent, r.brecv)
	}
	var in, out, bin uint64
	for _, sc := range srv.snapshot() {
		in += sc.framesIn.Load()
		out += sc.framesOut.Load()
		bin += sc.bytesIn.Load()
	}
	noteFrames(c.server.name, out, in, bin, bin)
	noteTried(c.client.name, "loss matrix (client)")
	kind := string(c.kind)
	if kind == "" {
		kind = "pipe"
	}
	noteTried(c.server.name, "loss matrix ("+kind+" server)")
}

// adopt runs the pull echo loop on an in-process link.
func (s *echoServer) adopt(ctx context.Context, l framelink.Link, seed uint64) {
	c := s.addConn(seed, nil, l)
	s.wg.Add(1)
	go s.linkLoop(ctx, c)
}

// connResult is what one client connection did.
type connResult struct {
	sent, recv, bsent, brecv uint64
	early                    bool // Tx.Close raced the senders
	ops                      opCounts
	err                      error
}

// runConn runs one client connection of the matrix: 1..maxStreams sender
// goroutines, a closer that calls Tx.Close either after every sender is
// done or as soon as a random number of frames has been committed (racing
// the senders), and a receiver that checks every echo.
//
// With drain (a server that ends the connection on the peer's half-close)
// the closer instead stops the senders at that point, waits until every
// committed frame has come back, and only then calls Tx.Close.
//
// With window > 0 the senders wait while more than window bytes they
// committed have not come back yet.
func runConn(ctx context.Context, l framelink.Link, connID uint32, cfg lossConfig, seed uint64, drain bool, window int64) (res connResult) {
	rng := rand.New(rand.NewPCG(seed, 7))
	nstreams := 1 + rng.IntN(cfg.maxStreams)
	ids := make([]uint32, nstreams)
	senders := make([]*streamSender, nstreams)
	for k := range nstreams {
		ids[k] = connID<<8 | uint32(k)
		senders[k] = newStreamSender(l.Tx(), ids[k], cfg.maxFrame, rng.Uint64())
	}
	closeAt := int64(-1) // close after every sender is done
	if rng.IntN(2) == 0 {
		closeAt = rng.Int64N(int64(nstreams*cfg.frames) + 1)
		res.early = true
	}

	var committed, received atomic.Int64
	var stop atomic.Bool
	fc := newFlow(window)
	reached := make(chan struct{})
	var reachOnce sync.Once
	if closeAt == 0 {
		reachOnce.Do(func() { close(reached) })
	}
	var swg sync.WaitGroup
	serrs := make([]error, nstreams)
	for k, s := range senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for int(s.next) < cfg.frames && !stop.Load() {
				before := s.next
				if !fc.wait(ctx) {
					return // the receiver is gone
				}
				err := s.sendOne(ctx)
				for q := before; q < s.next; q++ {
					fc.sent(frameLen(s.stream, q, cfg.maxFrame))
				}
				if n := committed.Add(int64(s.next - before)); closeAt >= 0 && n >= closeAt {
					reachOnce.Do(func() { close(reached) })
				}
				if errors.Is(err, errStopped) {
					return
				}
				if err != nil {
					serrs[k] = fmt.Errorf("stream %#x seq %d: %w", s.stream, s.next, err)
					return
				}
			}
		}()
	}
	sendersDone := make(chan struct{})
	go func() { swg.Wait(); close(sendersDone) }()
	closeErr := make(chan error, 1)
	go func() {
		select {
		case <-reached:
		case <-sendersDone:
		}
		if drain {
			stop.Store(true)
			<-sendersDone
			if !poll(func() bool { return received.Load() >= committed.Load() || ctx.Err() != nil }) {
				closeErr <- fmt.Errorf("drain: %d of %d echoes after %v", received.Load(), committed.Load(), hangLimit)
				return
			}
		}
		closeErr <- l.Tx().Close()
	}()

	chk := newChecker(cfg.maxFrame, ids)
	var rerr error
	for {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = fmt.Errorf("Recv after %d frames: %w (want io.EOF after the last echo)", chk.frames, err)
			}
			break
		}
		if err := chk.check(f.Bytes()); err != nil && rerr == nil {
			rerr = err
		}
		fc.got(f.Len())
		f.Release()
		received.Add(1)
		if rerr != nil {
			break
		}
	}
	if rerr == nil {
		// r[verify link.rx.eof]: io.EOF again, and again.
		for range 2 {
			if _, err := l.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
				rerr = fmt.Errorf("Recv after io.EOF: %v, want io.EOF again", err)
			}
		}
	}
	fc.end() // no more echoes: release windowed senders
	if rerr != nil {
		l.Close() // unblock the senders
	}
	select {
	case <-sendersDone:
	case <-ctx.Done():
		return connResult{err: fmt.Errorf("senders did not finish: %v (receiver: %v)", ctx.Err(), rerr)}
	}
	if err := <-closeErr; err != nil && rerr == nil {
		rerr = fmt.Errorf("Tx.Close: %w", err)
	}
	for _, e := range serrs {
		if e != nil {
			return connResult{err: e}
		}
	}
	want := map[uint32]uint32{}
	for _, s := range senders {
		want[s.stream] = s.next
		res.sent += uint64(s.next)
		res.ops.add(s.ops)
		for q := range s.next {
			res.bsent += uint64(frameLen(s.stream, q, cfg.maxFrame))
		}
	}
	if rerr == nil {
		rerr = chk.finish(want)
	}
	if rerr == nil {
		st := l.Stats()
		if st.FramesOut != res.sent || st.FramesIn != chk.frames || st.BytesOut != res.bsent || st.BytesIn != chk.bytes {
			rerr = fmt.Errorf("Stats %+v, but %d frames (%d bytes) committed and %d (%d bytes) received (r[link.stats])", st, res.sent, res.bsent, chk.frames, chk.bytes)
		} else if st.QueuedBytes != 0 {
			rerr = fmt.Errorf("Stats.QueuedBytes = %d after Tx.Close returned, want 0", st.QueuedBytes)
		}
	}
	res.recv, res.brecv = chk.frames, chk.bytes
	res.err = rerr
	return res
}

// noPauseWindow is the flow-control window of loss-matrix clients of a
// push server that cannot pause reading (see runCell's server options:
// HighWater 64 MiB).
const noPauseWindow = 16 << 20

// flow is an end-to-end window: bytes sent and not yet echoed back.
type flow struct {
	window int64
	mu     sync.Mutex
	cond   *sync.Cond
	out    int64
	ended  bool
}

func newFlow(window int64) *flow {
	f := &flow{window: window}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// wait blocks while the window is full; false once the receiver ended.
func (f *flow) wait(ctx context.Context) bool {
	if f.window <= 0 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.out > f.window && !f.ended && ctx.Err() == nil {
		f.cond.Wait()
	}
	return !f.ended
}

func (f *flow) sent(n int) {
	if f.window > 0 {
		f.mu.Lock()
		f.out += int64(n)
		f.mu.Unlock()
	}
}

func (f *flow) got(n int) {
	if f.window > 0 {
		f.mu.Lock()
		f.out -= int64(n)
		f.cond.Broadcast()
		f.mu.Unlock()
	}
}

func (f *flow) end() {
	f.mu.Lock()
	f.ended = true
	f.cond.Broadcast()
	f.mu.Unlock()
}
