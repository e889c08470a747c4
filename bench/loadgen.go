//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Load-generator phases. Frames are counted and latencies recorded only
// in phaseMeasure; in phaseStop no new frame is sent and every frame
// still in flight must come back (or it is reported missing).
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// splitWindow is the largest window (in-flight bytes per connection) that
// one goroutine per connection may both write and read without any risk
// of deadlock: below it every window fits in the loopback socket buffers,
// so a write never waits for a read on the same goroutine. Larger windows
// use a separate writer goroutine.
const splitWindow = 128 << 10

// loadConfig describes the offered load.
type loadConfig struct {
	Addr     string
	Conns    int
	Size     int // payload bytes per frame
	Inflight int // frames in flight per connection (pipelining window)
	// SpreadSources binds each connection to a source address drawn
	// round-robin from 127.1.0.1–127.250.249.1, so the (src, dst)
	// ephemeral port space never runs out.
	SpreadSources bool
	// DrainTimeout bounds how long frames in flight at the end may take.
	DrainTimeout time.Duration
}

// loadGen is the client side of a run: N connections, each pipelining a
// window of frames, verifying every echoed byte, recording latency.
//
// r[impl tools.bench]
type loadGen struct {
	cfg    loadConfig
	conns  []*clientConn
	phase  atomic.Int32
	shards []*histShard
	errs   errorLog
	base   time.Time
	wg     sync.WaitGroup
}

// histShard is a latency histogram shared by a few connections.
type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [64]byte // keep shards on separate cache lines
}

// Latencies are recorded in nanoseconds, 1 ns to 60 s, 3 significant
// digits.
const histMax = int64(60 * time.Second)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, 3) }

// newLoadGen prepares a load generator; dial opens its connections.
func newLoadGen(cfg loadConfig) *loadGen {
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	lg := &loadGen{cfg: cfg, base: time.Now()}
	ns := max(1, min(cfg.Conns, 16))
	for range ns {
		lg.shards = append(lg.shards, &histShard{h: newHist()})
	}
	return lg
}

// now is the monotonic time since the generator was created, in ns.
func (lg *loadGen) now() int64 { return int64(time.Since(lg.base)) }

// sourceAddr returns the i-th spread source address.
func sourceAddr(i int) *net.TCPAddr {
	a := i % (250 * 250)
	return &net.TCPAddr{IP: net.IPv4(127, byte(1+a/250), byte(a%250), 1)}
}

// dial opens connections until there are n, with up to parallel dials at
// once. It stops at the first failure and returns it, with the
// connections opened so far kept.
func (lg *loadGen) dial(n, parallel int) error {
	if parallel < 1 {
		parallel = 1
	}
	var (
		mu       sync.Mutex
		firstErr error
		next     = len(lg.conns)
		wg       sync.WaitGroup
	)
	opened := make([]*clientConn, n)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if firstErr != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				d := net.Dialer{Timeout: 10 * time.Second}
				if lg.cfg.SpreadSources {
					d.LocalAddr = sourceAddr(i)
				}
				c, err := d.Dial("tcp", lg.cfg.Addr)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("dial connection %d: %w", i+1, err)
					}
					mu.Unlock()
					return
				}
				opened[i] = lg.newConn(uint32(i), c.(*net.TCPConn))
			}
		}()
	}
	wg.Wait()
	for _, c := range opened[len(lg.conns):] {
		if c != nil {
			lg.conns = append(lg.conns, c)
		}
	}
	return firstErr
}

func (lg *loadGen) newConn(id uint32, c *net.TCPConn) *clientConn {
	fs := lg.cfg.Size + 4
	rb := max(4<<10, min(64<<10, lg.cfg.Inflight*fs))
	rb = max(rb, 2*fs)
	return &clientConn{
		lg:     lg,
		id:     id,
		c:      c,
		rbuf:   make([]byte, rb),
		wbuf:   make([]byte, 0, lg.cfg.Inflight*fs),
		sentAt: make([]atomic.Int64, lg.cfg.Inflight),
		shard:  lg.shards[int(id)%len(lg.shards)],
		wake:   make(chan struct{}, 1),
	}
}

// start launches every connection's loop; each first sends its window.
func (lg *loadGen) start() {
	lg.phase.Store(phaseWarmup)
	split := lg.cfg.Inflight*(lg.cfg.Size+4) > splitWindow
	for _, cc := range lg.conns {
		lg.wg.Add(1)
		go cc.run(split)
	}
}

func (lg *loadGen) setPhase(p int32) { lg.phase.Store(p) }

// loadTotals is the outcome of a run, from the client's side.
type loadTotals struct {
	Frames     uint64 // frames echoed and verified during the measure phase
	Verified   uint64 // frames echoed and verified in all phases
	Hist       *hdrhistogram.Histogram
	ErrorCount int
	Errors     []string // the first few
	Echoed     int      // connections with at least one verified echo
}

// finish stops the load (if not yet), waits for frames in flight to come
// back (at most DrainTimeout), closes every connection and returns the
// totals.
func (lg *loadGen) finish() loadTotals {
	lg.setPhase(phaseStop)
	dl := time.Now().Add(lg.cfg.DrainTimeout)
	for _, cc := range lg.conns {
		cc.c.SetReadDeadline(dl)
	}
	lg.wg.Wait()
	t := loadTotals{Hist: newHist()}
	for _, s := range lg.shards {
		t.Hist.Merge(s.h)
	}
	for _, cc := range lg.conns {
		t.Frames += cc.frames
		t.Verified += cc.recvd
		if cc.recvd > 0 {
			t.Echoed++
		}
		cc.c.Close()
	}
	t.ErrorCount, t.Errors = lg.errs.snapshot()
	return t
}

// close closes every connection without waiting (for the idle test).
func (lg *loadGen) close() {
	for _, cc := range lg.conns {
		cc.c.Close()
	}
}

// errorLog counts errors and keeps the first few messages.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 8 {
		e.first = append(e.first, err.Error())
	}
}

func (e *errorLog) snapshot() (int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, append([]string(nil), e.first...)
}

// clientConn is one load-generating connection.
type clientConn struct {
	lg     *loadGen
	id     uint32
	c      *net.TCPConn
	rbuf   []byte
	wbuf   []byte
	sent   atomic.Uint64  // next sequence number to send
	recvd  uint64         // next sequence number expected back
	sentAt []atomic.Int64 // send time of seq, indexed seq % Inflight
	frames uint64         // frames verified in the measure phase
	shard  *histShard
	lat    []int64 // latencies of the current batch (measure phase)

	// split mode: the reader hands credits to a writer goroutine.
	credits atomic.Int64
	wake    chan struct{}
}

func (cc *clientConn) fail(err error) {
	cc.lg.errs.add(fmt.Errorf("conn %d: %w", cc.id, err))
}

// send writes k new frames in one write.
func (cc *clientConn) send(k int) error {
	size := cc.lg.cfg.Size
	b := cc.wbuf[:0]
	now := cc.lg.now()
	seq := cc.sent.Load()
	for range k {
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
		n := len(b)
		b = b[:n+size]
		fillPayload(b[n:], cc.id, seq)
		cc.sentAt[seq%uint64(len(cc.sentAt))].Store(now)
		seq++
	}
	cc.sent.Store(seq)
	_, err := cc.c.Write(b)
	return err
}

// writer is the split-mode sending goroutine.
func (cc *clientConn) writer(done <-chan struct{}) {
	for {
		select {
		case <-cc.wake:
		case <-done:
			return
		}
		k := int(cc.credits.Swap(0))
		for k > 0 {
			n := min(k, cap(cc.wbuf)/(cc.lg.cfg.Size+4))
			if err := cc.send(n); err != nil {
				cc.fail(fmt.Errorf("write: %w", err))
				cc.c.CloseRead() // unblock the reader
				return
			}
			k -= n
		}
	}
}

// give hands k credits to the writer (split mode) or sends directly.
func (cc *clientConn) give(k int, split bool) error {
	if !split {
		return cc.send(k)
	}
	cc.credits.Add(int64(k))
	select {
	case cc.wake <- struct{}{}:
	default:
	}
	return nil
}

// run is the connection's closed loop: keep Inflight frames outstanding,
// verify each echo in order, and replace it with a new frame.
func (cc *clientConn) run(split bool) {
	defer cc.lg.wg.Done()
	lg := cc.lg
	size := lg.cfg.Size
	fs := size + 4
	if split {
		done := make(chan struct{})
		defer close(done)
		go cc.writer(done)
	}
	if err := cc.give(lg.cfg.Inflight, split); err != nil {
		cc.fail(fmt.Errorf("write: %w", err))
		return
	}
	r, w := 0, 0
	for {
		ph := lg.phase.Load()
		outstanding := cc.sent.Load() - cc.recvd
		if ph == phaseStop && outstanding == 0 && !split {
			return
		}
		if ph == phaseStop && split && outstanding == 0 && cc.credits.Load() == 0 {
			return
		}
		n, rerr := cc.c.Read(cc.rbuf[w:])
		w += n
		now := lg.now()
		measuring := lg.phase.Load() == phaseMeasure
		k := 0
		cc.lat = cc.lat[:0]
		for w-r >= 4 {
			l := int(binary.LittleEndian.Uint32(cc.rbuf[r:]))
			if l != size {
				cc.fail(fmt.Errorf("echo of seq %d has length %d, sent %d", cc.recvd, l, size))
				return
			}
			if w-r < fs {
				break
			}
			if cc.recvd >= cc.sent.Load() {
				cc.fail(fmt.Errorf("received seq %d that was never sent (duplicate or extra frame)", cc.recvd))
				return
			}
			if err := verifyPayload(cc.rbuf[r+4:r+fs], cc.id, cc.recvd); err != nil {
				cc.fail(err)
				return
			}
			if measuring {
				cc.lat = append(cc.lat, now-cc.sentAt[cc.recvd%uint64(len(cc.sentAt))].Load())
			}
			cc.recvd++
			r += fs
			k++
		}
		if r == w {
			r, w = 0, 0
		} else if len(cc.rbuf)-w < fs {
			w = copy(cc.rbuf, cc.rbuf[r:w])
			r = 0
		}
		if measuring && k > 0 {
			cc.frames += uint64(k)
			cc.shard.mu.Lock()
			for _, v := range cc.lat {
				cc.shard.h.RecordValue(max(1, min(v, histMax)))
			}
			cc.shard.mu.Unlock()
		}
		if rerr != nil {
			out := cc.sent.Load() - cc.recvd
			if out == 0 && lg.phase.Load() == phaseStop {
				return
			}
			switch {
			case errors.Is(rerr, os.ErrDeadlineExceeded):
				cc.fail(fmt.Errorf("%d frame(s) never echoed (missing after %v drain)", out, lg.cfg.DrainTimeout))
			default:
				cc.fail(fmt.Errorf("read with %d frame(s) outstanding: %w", out, rerr))
			}
			return
		}
		if k > 0 && lg.phase.Load() != phaseStop {
			if err := cc.give(k, split); err != nil {
				cc.fail(fmt.Errorf("write: %w", err))
				return
			}
		}
	}
}

// echoOnce sends one frame on every connection and verifies its echo,
// with up to parallel connections at once. It returns the number of
// connections whose echo was verified; failures go to the error log.
func (lg *loadGen) echoOnce(ctx context.Context, parallel int, timeout time.Duration) int {
	var ok atomic.Int64
	ch := make(chan *clientConn)
	var wg sync.WaitGroup
	for range max(1, parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, lg.cfg.Size+4)
			for cc := range ch {
				if err := cc.pingPong(buf, timeout); err != nil {
					cc.fail(err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for _, cc := range lg.conns {
		select {
		case ch <- cc:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	return int(ok.Load())
}

// pingPong sends the connection's next frame and reads back its echo.
func (cc *clientConn) pingPong(buf []byte, timeout time.Duration) error {
	cc.c.SetDeadline(time.Now().Add(timeout))
	defer cc.c.SetDeadline(time.Time{})
	if err := cc.send(1); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := ioReadFull(cc.c, buf); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("echo not received within %v (server not serving this connection)", timeout)
		}
		return fmt.Errorf("read echo: %w", err)
	}
	if l := int(binary.LittleEndian.Uint32(buf)); l != cc.lg.cfg.Size {
		return fmt.Errorf("echo has length %d, sent %d", l, cc.lg.cfg.Size)
	}
	if err := verifyPayload(buf[4:], cc.id, cc.recvd); err != nil {
		return err
	}
	cc.recvd++
	return nil
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// dialLimitReason names the limit behind a dial error, if it is one.
func dialLimitReason(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return "the load generator's RLIMIT_NOFILE (EMFILE)"
	case errors.Is(err, syscall.ENFILE):
		return "the system-wide file table (ENFILE, fs.file-max)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "ephemeral ports (EADDRNOTAVAIL)"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return "the server refusing connections (accept backlog full or server gone)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "connect timing out (server accept backlog full: it stopped accepting)"
	}
	return ""
}
