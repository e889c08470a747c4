package netstd

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/framelink/framelink"
)

// Serve listens on network ("tcp", "tcp4", "tcp6", "unix", or "local")
// and addr and serves h on every connection, one goroutine per
// connection (see ServeListener; a framelink.BatchHandler gets OnBatch
// instead of OnFrame). It returns once listening; Server.Addr is the real
// address. Stop it with Shutdown. r[impl serve.handler]
func Serve(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error) {
	if _, err := o.Normalize(); err != nil {
		return nil, err
	}
	var ln net.Listener
	var err error
	if network == "local" {
		ln, err = listenLocal(addr)
	} else {
		ln, err = net.Listen(network, addr)
	}
	if err != nil {
		return nil, err
	}
	s, err := ServeListener(ln, h, o)
	if err != nil {
		ln.Close()
	}
	return s, err
}

// ServeListener serves h on every connection accepted from ln, which it
// owns from now on (Shutdown closes it).
//
// For each connection one goroutine calls OnOpen, then reads frames and
// calls OnFrame with each payload (valid until OnFrame returns), then
// OnClose. If h is a framelink.BatchHandler it calls OnBatch instead of
// OnFrame, for every frame: once per run of whole frames buffered
// together in its read buffer (what a read brought in, as many as the
// output has room for under HighWater, at least one), a view valid until
// OnBatch returns; a frame larger than the read buffer comes alone.
// Replies committed during callbacks are written by that goroutine
// before it reads again, all of them in one write(v); replies committed
// from other goroutines interrupt its read to be written.
// Because the goroutine writes before it reads, a peer that does not read
// its replies stops the reading of its requests (r[serve.reply]), and a
// handler that commits more than HighWater in one go is written out
// before the next frame (or batch) is handled.
//
// FrameTimeout and IdleTimeout are read deadlines (r[serve.timeouts]): the
// idle one while waiting for the first byte of a frame, the frame one
// from the first byte to the last. When one passes the connection closes
// and OnClose gets an error matching os.ErrDeadlineExceeded.
func ServeListener(ln net.Listener, h framelink.Handler, o framelink.Options) (framelink.Server, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	s := &server{
		ln:         ln,
		h:          h,
		opts:       o,
		conns:      make(map[*sconn]struct{}),
		shut:       make(chan struct{}),
		acceptDone: make(chan struct{}),
	}
	go s.acceptLoop()
	return s, nil
}

// server is a running push-API server.
type server struct {
	ln   net.Listener
	h    framelink.Handler
	opts framelink.Options

	mu    sync.Mutex
	conns map[*sconn]struct{}
	wg    sync.WaitGroup // connection goroutines

	shutOnce   sync.Once
	shut       chan struct{} // closed by Shutdown
	acceptDone chan struct{}
}

// Addr implements framelink.Server.
func (s *server) Addr() net.Addr { return s.ln.Addr() }

func (s *server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff *time.Timer
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.shut:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little for descriptors to free.
			if backoff == nil {
				backoff = time.NewTimer(5 * time.Millisecond)
			} else {
				backoff.Reset(5 * time.Millisecond)
			}
			select {
			case <-backoff.C:
			case <-s.shut:
				return
			}
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c := newSconn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *server) remove(c *sconn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown implements framelink.Server: it stops accepting, asks every
// connection to stop reading and flush what was committed, and waits.
// Each connection then shuts its write side and reads and discards input
// until the peer closes (see sconn.lingerClose): no OnFrame or OnBatch is
// called once Shutdown began, and frames still arriving are dropped
// unread, but every reply committed before is delivered. When ctx ends
// first it closes every connection, waits for their goroutines, and
// returns ctx's error. Idempotent; safe from any goroutine except a
// Handler callback of this server.
// r[impl serve.shutdown]
func (s *server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		close(s.shut)
		_ = s.ln.Close()
	})
	<-s.acceptDone
	s.mu.Lock()
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
