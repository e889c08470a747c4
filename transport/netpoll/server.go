//go:build !windows

package netpoll

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// Serve listens on addr ("tcp*" or "unix") and serves h on a netpoll
// EventLoop of its own (netpoll's process-wide pollers are shared and left
// at their defaults: nothing global is configured). It returns once
// listening; Addr is the real address. Stop it with Shutdown (safe from any
// goroutine). h's callbacks run on netpoll's worker goroutines (OnClose,
// and OnFrame for frames netpoll left undelivered at the peer's end of
// stream, possibly on its hang-up goroutine), one at a time per
// connection, and must not block; the payload passed to OnFrame points
// into netpoll's input buffer and is valid until OnFrame returns. If h is
// a framelink.BatchHandler, every frame goes to OnBatch instead, in
// batches of whole frames that lie contiguously in netpoll's input buffer
// (batch.go), valid until OnBatch returns.
// r[impl serve.handler] r[impl transport.netpoll]
func Serve(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	ln, err := netpoll.CreateListener(network, addr)
	if err != nil {
		return nil, err
	}
	s := &server{h: h, o: o, inLimit: inputLimit(o), ln: ln, conns: map[*sconn]struct{}{}, served: make(chan struct{})}
	s.bh, _ = h.(framelink.BatchHandler)
	s.idle = sync.NewCond(&s.mu)
	opts := []netpoll.Option{
		netpoll.WithOnPrepare(s.onPrepare),
		netpoll.WithOnConnect(onConnect),
	}
	if o.FrameTimeout > 0 {
		// Bounds the blocking reads OnRequest makes for the rest of a
		// started frame (r[serve.timeouts]).
		opts = append(opts, netpoll.WithReadTimeout(o.FrameTimeout))
	}
	evl, err := netpoll.NewEventLoop(onRequest, opts...)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.evl = evl
	go func() {
		defer close(s.served)
		_ = evl.Serve(ln)
	}()
	return s, nil
}

// server implements framelink.Server. Shutdown is safe from any goroutine.
type server struct {
	h framelink.Handler
	// bh is h if it is a framelink.BatchHandler: frames then go to
	// OnBatch, never to OnFrame (batch.go).
	bh framelink.BatchHandler
	o  framelink.Options
	// inLimit is inputLimit(o): the most input a connection holds before
	// its reads are switched off, paused or not (see sconn.onRequest).
	inLimit int
	ln      netpoll.Listener
	evl     netpoll.EventLoop

	served chan struct{} // closed when EventLoop.Serve returned

	// pauseHook, if set (tests only), is called by OnRequest when a pause
	// starts (paused) and when it ends, with the input held at that moment.
	pauseHook atomic.Pointer[func(paused bool, held int)]
	// noReadSwitch (tests only, set before the first connection): pause
	// as where reads cannot be switched off.
	noReadSwitch atomic.Bool
	// requestHook, if set (tests only), is called by every OnRequest
	// before it returns: a test can hold the worker there, with netpoll's
	// processing lock, while the peer sends and hangs up.
	requestHook atomic.Pointer[func(c *sconn)]

	mu       sync.Mutex
	idle     *sync.Cond // broadcast when conns shrinks
	conns    map[*sconn]struct{}
	shutting bool
	shutOnce sync.Once
	shutErr  error
}

// Addr returns the listening address.
func (s *server) Addr() net.Addr { return s.ln.Addr() }

// onPrepare runs on a poller goroutine for each accepted connection, before
// it is registered: it creates the sconn (the connection's context) and
// hooks the close callback. While shutting down, new connections are
// closed at once.
func (s *server) onPrepare(c netpoll.Connection) context.Context {
	sc := newSconn(s, c)
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		sc.closing.Store(true)
		sc.fdGone = true // no callback runs; netpoll owns the descriptor
		_ = c.Close()
		return &sc.nctx
	}
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	_ = c.AddCloseCallback(func(netpoll.Connection) error {
		sc.onClosed()
		return nil
	})
	// Still in OnPrepare: netpoll registers the connection after this
	// returns, so the timer cannot see a closed descriptor before onClosed.
	sc.startIdle()
	return &sc.nctx
}

func onConnect(ctx context.Context, _ netpoll.Connection) context.Context {
	ctx.(*connCtx).c.onConnect()
	return ctx
}

func onRequest(ctx context.Context, _ netpoll.Connection) error {
	ctx.(*connCtx).c.onRequest()
	return nil
}

// linger waits, until ctx ends, for every connection to finish its
// lingering close: each has flushed its output and shut its write side,
// and is closed here once the peer's kernel has acknowledged everything
// (or by netpoll when the peer closes). A peer that keeps sending is never
// answered with a reset that would discard replies it has not read yet.
// netpoll gives no event for "all acknowledged", so this polls, from 1 ms
// doubling to 50 ms.
func (s *server) linger(ctx context.Context) {
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		var done []*sconn
		for c := range s.conns {
			if c.delivered() {
				done = append(done, c)
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return
		}
		for _, c := range done {
			c.shutdown() // netpoll sees the hang-up and closes it
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
		t.Reset(wait)
	}
}

func (s *server) remove(c *sconn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.idle.Broadcast()
	s.mu.Unlock()
}

// Shutdown stops serving (r[serve.shutdown]): connections accepted from
// now on are closed at once; every connection stops delivering frames
// (input that arrives is discarded), flushes its committed output, shuts
// its write side so the peer reads every reply and then io.EOF, and is
// closed once the peer's kernel has acknowledged it all (Linux) or the
// peer closes. When ctx ends first the rest are closed without waiting.
// It returns when every OnClose has run and the event loop has stopped
// (ctx's error if it ended first). Idempotent. r[impl serve.shutdown]
func (s *server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	list := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()

	for _, c := range list {
		c.linger.Store(true)
		_ = c.Close() // graceful: after the output drains, half-close
	}
	s.linger(ctx)
	err := ctx.Err()

	// Stop the listener (and close anything netpoll still holds).
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.evl.Shutdown(done)
	<-s.served

	// Force what is left, then wait for every OnClose.
	s.mu.Lock()
	list = list[:0]
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		c.fail(nil) // a local close: OnClose gets nil
	}
	s.mu.Lock()
	for len(s.conns) > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
	return err
}
