//go:build unix

package gnet

import (
	"context"
	"net"
	"time"

	"github.com/framelink/framelink"
)

// Serve serves h on network ("tcp", "tcp4", "tcp6" or "unix") at addr
// with a gnet engine of its own, and returns once it listens
// (r[serve.handler], r[transport.gnet]). With o.Multicore the engine runs
// one event loop per CPU, else one; either way no goroutine is parked per
// connection and h's callbacks run on the loops, so they must not block.
// The payload given to OnFrame points into gnet's input buffer where the
// frame is contiguous there (zero copy) and is valid only until OnFrame
// returns.
//
// Shutdown (with the Server's own engine handle) stops it.
// r[impl serve.handler] r[impl transport.gnet]
func Serve(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	e := newEngine(o, h, false)
	if err := e.run(network, addr); err != nil {
		return nil, err
	}
	return &server{e: e}, nil
}

type server struct{ e *engine }

// Addr returns the address the server listens on (the real port when
// asked for port 0).
func (s *server) Addr() net.Addr { return s.e.addr }

// Shutdown stops accepting (new connections are closed as they arrive)
// and stops decoding (no OnFrame once it began; input still arriving is
// discarded). Each connection writes what was committed, shuts its write
// side, and closes once its peer closed or acknowledged everything (see
// serviceShutdown), so committed replies are not lost to a reset. When
// every connection is closed, or ctx ends first, Shutdown stops the gnet
// engine, which closes what is left (OnClose with a nil error) and ends
// its goroutines before Shutdown returns. It returns ctx's error if
// connections were still open then. Safe from any goroutine except the
// event loops; idempotent.
// r[impl serve.shutdown]
func (s *server) Shutdown(ctx context.Context) error {
	e := s.e
	e.shutting.Store(true)
	var err error
	t := time.NewTicker(time.Millisecond)
	for e.liveConns() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			continue
		}
		break
	}
	t.Stop()
	e.halt()
	return err
}

// The push API's framelink.Conn. Every method is safe from any goroutine,
// the callbacks included, and none blocks the loop.

// Alloc implements framelink.Conn: a slot in a pool buffer, never waiting.
// While the connection's output is over the high-water mark the engine
// does not read from it (see the package documentation).
func (c *conn) Alloc(n int) (framelink.Slot, error) { return c.sendTx().Direct(n) }

// Close implements framelink.Conn: the connection closes after the frames
// already committed are handed to gnet (which writes what the socket
// takes before closing). Idempotent; never blocks.
func (c *conn) Close() error {
	c.requestClose()
	return nil
}

// LocalAddr implements framelink.Conn.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements framelink.Conn.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Context implements framelink.Conn.
func (c *conn) Context() any {
	c.mu.Lock()
	v := c.userCtx
	c.mu.Unlock()
	return v
}

// SetContext implements framelink.Conn.
func (c *conn) SetContext(v any) {
	c.mu.Lock()
	c.userCtx = v
	c.mu.Unlock()
}

// Stats implements framelink.Conn: QueuedBytes counts frames committed
// and not yet written to the kernel, gnet's outbound buffer included (as
// of the loop's last look). Sends made inside a callback are counted when
// the loop's run ends, or sooner once they reach 64 KiB or would take the
// output over the high-water mark; so are the frames a run delivers. The
// loop keeps its counts under the connection's lock rather than in
// atomics (a run costs no atomic update for counting), so Stats takes
// that lock. Safe from any goroutine.
// r[impl link.stats]
func (c *conn) Stats() framelink.Stats {
	s := c.counters.Snapshot()
	c.mu.Lock()
	s.FramesIn += uint64(c.inFrames)
	s.BytesIn += uint64(c.inBytes)
	s.FramesOut += uint64(c.outFrames)
	s.BytesOut += uint64(c.outBytes)
	c.mu.Unlock()
	s.QueuedBytes = c.budget.Queued()
	return s
}
