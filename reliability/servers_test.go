package reliability

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/framelink/framelink"
)

// An echoServer runs one engine's server, push or pull, that sends every
// frame back unchanged through random send paths, and records per
// connection what it received, what it committed and how it ended.
type echoServer struct {
	e    *engine
	kind serverKind
	addr string
	o    framelink.Options

	srv    framelink.Server   // push
	ln     framelink.Listener // pull
	cancel context.CancelFunc // pull: stops Recv/Reserve of the links
	wg     sync.WaitGroup     // pull: accept loop and link loops

	opened, closed atomic.Int64
	mu             sync.Mutex
	conns          []*srvConn
	unexpected     []error
	stopOnce       sync.Once
	stopErr        error

	// noEcho makes the server only count frames (for tests that want a
	// server that reads but never writes).
	noEcho bool
	// verify checks every received frame with a checker of the stream
	// its first frame names (clients of fault tests send one tagged
	// stream per connection: no short frames).
	verify bool
}

// srvConn is the server side of one connection.
type srvConn struct {
	id         int
	framesIn   atomic.Uint64
	bytesIn    atomic.Uint64
	framesOut  atomic.Uint64 // echoes whose Send/Commit returned nil
	peakQueued atomic.Int64  // max QueuedBytes seen after an echo
	done       chan struct{} // closed by OnClose / the end of the link loop
	closeErr   error         // valid after done
	rng        *rand.Rand
	tag        atomic.Uint32 // stream id of the first frame, if tagged
	chk        *checker
	link       framelink.Link // pull
	conn       framelink.Conn // push
}

func (c *srvConn) notePeak(q int64) {
	for {
		old := c.peakQueued.Load()
		if q <= old || c.peakQueued.CompareAndSwap(old, q) {
			return
		}
	}
}

// startEcho starts an echo server of kind on e, listening on loopback, and
// registers its stop with t.Cleanup. Functions given as setup run before the server starts (e.g. to set verify).
func startEcho(t *testing.T, e *engine, kind serverKind, o framelink.Options, seed uint64, setup ...func(*echoServer)) *echoServer {
	t.Helper()
	s := &echoServer{e: e, kind: kind, o: o}
	for _, f := range setup {
		f(s)
	}
	s.start(t, seed)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *echoServer) start(t *testing.T, seed uint64) {
	t.Helper()
	switch s.kind {
	case push:
		var h framelink.Handler = &echoHandler{s: s, seed: seed}
		if seed%2 == 1 {
			h = &batchEchoHandler{echoHandler{s: s, seed: seed}}
		}
		srv, err := s.e.serve("tcp", loopback, h, s.o)
		if err != nil {
			t.Fatalf("%s Serve: %v", s.e.name, err)
		}
		s.srv, s.addr = srv, srv.Addr().String()
	case pull:
		ln, err := s.e.listen("tcp", loopback, s.o)
		if err != nil {
			t.Fatalf("%s Listen: %v", s.e.name, err)
		}
		s.ln, s.addr = ln, ln.Addr().String()
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.wg.Add(1)
		go s.acceptLoop(ctx, seed)
	default:
		t.Fatalf("unknown server kind %q", s.kind)
	}
}

// addConn records a new server-side connection (conn for push, link
// for pull).
func (s *echoServer) addConn(seed uint64, conn framelink.Conn, link framelink.Link) *srvConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &srvConn{id: len(s.conns), done: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, uint64(len(s.conns)))), conn: conn, link: link}
	s.conns = append(s.conns, c)
	s.opened.Add(1)
	return c
}

func (s *echoServer) fail(err error) {
	s.mu.Lock()
	s.unexpected = append(s.unexpected, err)
	s.mu.Unlock()
}

// snapshot returns the connections seen so far.
func (s *echoServer) snapshot() []*srvConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*srvConn(nil), s.conns...)
}

// errs returns the unexpected errors recorded so far.
func (s *echoServer) errs() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.unexpected...)
}

// shutdown stops the server: Shutdown(ctx) for push; for pull, close the
// listener, then every link, and wait for the loops. It returns Shutdown's
// error. Idempotent.
func (s *echoServer) shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		switch s.kind {
		case push:
			s.stopErr = s.srv.Shutdown(ctx)
		case pull:
			s.stopErr = s.ln.Close()
			s.cancel()
			for _, c := range s.snapshot() {
				c.link.Close()
			}
			s.wg.Wait()
		}
	})
	return s.stopErr
}

// stop shuts the server down and checks that every connection that
// opened also closed, once (r[serve.handler]).
func (s *echoServer) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	if err := s.shutdown(ctx); err != nil && !errors.Is(err, framelink.ErrClosed) {
		t.Errorf("%s %s server stop: %v", s.e.name, s.kind, err)
	}
	if !poll(func() bool { return s.closed.Load() == s.opened.Load() }) {
		t.Errorf("%s %s server: %d connections opened, %d closed after the server stopped", s.e.name, s.kind, s.opened.Load(), s.closed.Load())
	}
}

// waitConns waits until n connections have been opened and all of them
// closed.
func (s *echoServer) waitClosed(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s %s server: %d connections opened and closed", s.e.name, s.kind, n), func() bool {
		return s.opened.Load() >= n && s.closed.Load() == s.opened.Load()
	})
}

// observe records a received frame and, with verify, checks it.
func (s *echoServer) observe(c *srvConn, p []byte) {
	if c.framesIn.Load() == 0 && len(p) >= 4 {
		c.tag.Store(binary.LittleEndian.Uint32(p))
	}
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(len(p)))
	if !s.verify {
		return
	}
	if c.chk == nil {
		c.chk = newChecker(int(s.o.MaxFrame), []uint32{c.tag.Load()})
	}
	if err := c.chk.check(p); err != nil {
		s.fail(fmt.Errorf("server conn %d received a bad frame: %w", c.id, err))
	}
}

// byTag returns the server connection whose first frame named stream.
func (s *echoServer) byTag(stream uint32) *srvConn {
	for _, c := range s.snapshot() {
		if c.framesIn.Load() > 0 && c.tag.Load() == stream {
			return c
		}
	}
	return nil
}

// --- push ---

type echoHandler struct {
	s    *echoServer
	seed uint64
}

func (h *echoHandler) OnOpen(c framelink.Conn) {
	sc := h.s.addConn(h.seed, c, nil)
	c.SetContext(sc)
}

// OnFrame echoes payload through Echo (in place on gnet), Send, or
// Alloc+copy+Commit, sometimes after an Alloc+Discard that must publish
// nothing; the mix interleaves in-place echoes with copies in one batch.
func (h *echoHandler) OnFrame(c framelink.Conn, payload []byte) {
	sc, ok := c.Context().(*srvConn)
	if !ok {
		h.s.fail(fmt.Errorf("OnFrame before OnOpen (context %T)", c.Context()))
		return
	}
	h.s.observe(sc, payload)
	if h.s.noEcho {
		return
	}
	var err error
	switch sc.rng.IntN(5) {
	case 0:
		err = c.Send(payload)
	case 2, 3:
		err = c.Echo(payload)
	case 1:
		var junk framelink.Slot
		if junk, err = c.Alloc(sc.rng.IntN(len(payload) + 1)); err == nil {
			err = junk.Discard()
		}
		if err == nil {
			err = commitCopy(c.Alloc, payload)
		}
	default:
		err = commitCopy(c.Alloc, payload)
	}
	if err == nil {
		sc.framesOut.Add(1)
	} else if !closedErr(err) && !resetErr(err) && !h.s.e.hasBug(bugRawSendError) {
		// A reply to a peer that reset or vanished may fail; anything
		// else is a bug.
		h.s.fail(fmt.Errorf("push echo on conn %d: %w", sc.id, err))
	}
	sc.notePeak(c.Stats().QueuedBytes)
}

// batchEchoHandler is echoHandler as a framelink.BatchHandler (servers
// with an odd seed): each batch is answered either with one EchoBatch
// (in place on gnet) or frame by frame as echoHandler does.
type batchEchoHandler struct{ echoHandler }

func (h *batchEchoHandler) OnBatch(c framelink.Conn, b framelink.Batch) {
	sc, ok := c.Context().(*srvConn)
	if !ok || h.s.noEcho || sc.rng.IntN(2) == 0 {
		for p := range b.All() {
			h.OnFrame(c, p)
		}
		return
	}
	for p := range b.All() {
		h.s.observe(sc, p)
	}
	err := c.EchoBatch(b)
	if err == nil {
		sc.framesOut.Add(uint64(b.Len()))
	} else if !closedErr(err) && !resetErr(err) && !h.s.e.hasBug(bugRawSendError) {
		h.s.fail(fmt.Errorf("push batch echo on conn %d: %w", sc.id, err))
	}
	sc.notePeak(c.Stats().QueuedBytes)
}

func (h *echoHandler) OnClose(c framelink.Conn, err error) {
	sc, ok := c.Context().(*srvConn)
	if !ok {
		h.s.fail(fmt.Errorf("OnClose without OnOpen (err %v)", err))
		return
	}
	if errors.Is(err, io.EOF) {
		h.s.fail(fmt.Errorf("OnClose got io.EOF (must be nil for a clean end)"))
	}
	select {
	case <-sc.done:
		h.s.fail(fmt.Errorf("OnClose called twice for conn %d", sc.id))
		return
	default:
	}
	sc.closeErr = err
	close(sc.done)
	h.s.closed.Add(1)
}

// commitCopy sends p through alloc, copy and Commit.
func commitCopy(alloc func(int) (framelink.Slot, error), p []byte) error {
	sl, err := alloc(len(p))
	if err != nil {
		return err
	}
	if len(sl.Bytes()) != len(p) {
		sl.Discard()
		return fmt.Errorf("Alloc(%d) gave %d bytes", len(p), len(sl.Bytes()))
	}
	copy(sl.Bytes(), p)
	return sl.Commit()
}

// --- pull ---

func (s *echoServer) acceptLoop(ctx context.Context, seed uint64) {
	defer s.wg.Done()
	for {
		l, err := s.ln.Accept(ctx)
		if err != nil {
			if !closedErr(err) && ctx.Err() == nil {
				s.fail(fmt.Errorf("Accept: %w", err))
			}
			return
		}
		c := s.addConn(seed, nil, l)
		s.wg.Add(1)
		go s.linkLoop(ctx, c)
	}
}

// linkLoop echoes every frame of c's link; on io.EOF it closes the
// sending half gracefully (so the peer gets every echo, then io.EOF), then
// the link.
func (s *echoServer) linkLoop(ctx context.Context, c *srvConn) {
	defer s.wg.Done()
	l := c.link
	echoDead := false
	defer func() {
		l.Close()
		close(c.done)
		s.closed.Add(1)
	}()
	for {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				if err := l.Tx().Close(); err != nil && !closedErr(err) {
					c.closeErr = err
				}
				return
			}
			c.closeErr = err
			if ctx.Err() != nil {
				return // the server is stopping
			}
			// Flush the echoes already committed (the deferred Close would
			// drop them), whatever ended the input.
			l.Tx().Close()
			// r[verify link.rx.error]: a dead receiver never yields a frame.
			rctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			if f, err2 := l.Rx().Recv(rctx); err2 == nil {
				s.fail(fmt.Errorf("conn %d: Recv returned a %d-byte frame after %v", c.id, f.Len(), err))
			} else if errors.Is(err2, context.DeadlineExceeded) {
				s.fail(fmt.Errorf("conn %d: Recv blocked after %v instead of failing again", c.id, err))
			}
			cancel()
			return
		}
		s.observe(c, f.Bytes())
		if s.noEcho || echoDead {
			f.Release()
			continue
		}
		switch c.rng.IntN(3) {
		case 0:
			err = l.Tx().Send(ctx, f.Bytes())
		default:
			var p framelink.Permit
			if p, err = l.Tx().Reserve(ctx); err == nil {
				err = commitCopy(p.Alloc, f.Bytes())
			}
		}
		f.Release()
		if err != nil {
			if !closedErr(err) && !resetErr(err) && ctx.Err() == nil && !s.e.hasBug(bugRawSendError) {
				s.fail(fmt.Errorf("pull echo on conn %d: %w", c.id, err))
			}
			if ctx.Err() != nil {
				c.closeErr = err
				return
			}
			// The sending half is dead (the peer went away, or a
			// protocol error closed the link): keep receiving what
			// arrived, to count it, until Recv fails too.
			echoDead = true
			continue
		}
		c.framesOut.Add(1)
		c.notePeak(l.Stats().QueuedBytes)
	}
}

// verifying is a startEcho setup: check every received frame.
func verifying(s *echoServer) { s.verify = true }
