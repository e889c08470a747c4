//go:build unix

package gnet

import (
	"context"
	"net"
	"sync"

	"github.com/framelink/framelink"
)

// acceptBacklog bounds the connections opened and not yet Accepted;
// beyond it new connections are closed at once.
const acceptBacklog = 1024

// Listen listens on network ("tcp", "tcp4", "tcp6" or "unix") at addr with
// a gnet engine of its own and returns a Listener whose Accept hands out
// links (r[serve.pull]). The engine runs until the Listener is closed and
// every accepted link is closed.
// r[impl serve.pull]
func Listen(network, addr string, o framelink.Options) (framelink.Listener, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	e := newEngine(o, nil, true)
	e.acc = &acceptor{e: e, sig: make(chan struct{}, 1)}
	if err := e.run(network, addr); err != nil {
		return nil, err
	}
	return e.acc, nil
}

// acceptor is the Listener of a pull engine.
type acceptor struct {
	e      *engine
	mu     sync.Mutex
	q      []*conn
	closed bool
	live   int // links handed out by Accept and not yet closed
	sig    chan struct{}
}

func (a *acceptor) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// push queues a new connection (loop); false if it must be refused.
func (a *acceptor) push(c *conn) bool {
	a.mu.Lock()
	if a.closed || len(a.q) >= acceptBacklog {
		a.mu.Unlock()
		return false
	}
	a.q = append(a.q, c)
	a.mu.Unlock()
	select {
	case a.sig <- struct{}{}:
	default:
	}
	return true
}

// Accept implements framelink.Listener: it waits for the next connection,
// ctx's end, or Close (ErrClosed).
func (a *acceptor) Accept(ctx context.Context) (framelink.Link, error) {
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return nil, framelink.ErrClosed
		}
		if len(a.q) > 0 {
			c := a.q[0]
			a.q[0] = nil
			a.q = a.q[1:]
			c.accepted = true
			a.live++
			a.mu.Unlock()
			return (*pullLink)(c), nil
		}
		a.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		select {
		case <-a.sig:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements framelink.Listener: Accept returns ErrClosed, new
// connections are refused and those not yet accepted are closed. gnet
// cannot close its listening socket alone, so the engine (listener
// included) stops when the last accepted link is closed, or now if there
// is none. Idempotent.
func (a *acceptor) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	q := a.q
	a.q = nil
	stop := a.live == 0
	a.mu.Unlock()
	select {
	case a.sig <- struct{}{}:
	default:
	}
	for _, c := range q {
		c.requestClose()
	}
	if stop {
		a.e.halt()
	}
	return nil
}

// Addr implements framelink.Listener.
func (a *acceptor) Addr() net.Addr { return a.e.addr }

// linkClosed is called after a pull link's Close saw OnClose.
func (e *engine) linkClosed(c *conn) {
	if e.acc == nil {
		releaseClient(e)
		return
	}
	a := e.acc
	a.mu.Lock()
	if c.accepted {
		a.live--
	}
	stop := a.closed && a.live == 0
	a.mu.Unlock()
	if stop {
		e.halt()
	}
}
