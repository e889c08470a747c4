package netstd

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/framelink/framelink"
)

// Dial connects to addr on network ("tcp", "tcp4", "tcp6", "unix", or
// "local" for LocalLink) and returns a link that the caller owns (Close
// it). TCP links have TCP_NODELAY on. ctx bounds the connection attempt
// only. Safe for concurrent use. r[impl serve.pull]
func Dial(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error) {
	return (&Dialer{Network: network, Addr: addr, Options: o}).Dial(ctx)
}

// Listen listens on network ("tcp", "tcp4", "tcp6", "unix", or "local")
// and addr and returns a Listener whose Accept yields links. The caller
// owns the Listener and every link accepted from it.
func Listen(network, addr string, o framelink.Options) (framelink.Listener, error) {
	if _, err := o.Normalize(); err != nil {
		return nil, err
	}
	if network == "local" {
		return ListenLocal(addr, o)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return NewListener(ln, o), nil
}

// NewListener returns a Listener that accepts links from ln, which it owns
// from now on (Close closes ln).
func NewListener(ln net.Listener, o framelink.Options) framelink.Listener {
	return &listener{ln: ln, opts: o, conns: make(chan accepted), done: make(chan struct{})}
}

type accepted struct {
	c   net.Conn
	err error
}

// listener runs one accept goroutine, started by the first Accept, so
// Accept(ctx) can honour ctx on any net.Listener.
type listener struct {
	ln        net.Listener
	opts      framelink.Options
	startOnce sync.Once
	closeOnce sync.Once
	conns     chan accepted
	done      chan struct{}
	loopDone  chan struct{}
}

// Accept implements framelink.Listener: it waits for the next connection
// and returns it as a link owned by the caller. Safe for concurrent use.
func (l *listener) Accept(ctx context.Context) (framelink.Link, error) {
	select {
	case <-l.done:
		return nil, framelink.ErrClosed
	default:
	}
	l.startOnce.Do(func() {
		l.loopDone = make(chan struct{})
		go l.loop()
	})
	for {
		select {
		case a := <-l.conns:
			if a.err != nil {
				return nil, a.err
			}
			lk, err := NewLink(a.c, l.opts)
			if err != nil {
				a.c.Close()
				return nil, err
			}
			return lk, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.done:
			return nil, framelink.ErrClosed
		}
	}
}

func (l *listener) loop() {
	defer close(l.loopDone)
	for {
		c, err := l.ln.Accept()
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case l.conns <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
	}
}

// Close implements framelink.Listener: it stops accepting and waits for
// the accept goroutine. Links already accepted stay open. Idempotent.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.startOnce.Do(func() {}) // no loop may start after Close
		if l.loopDone != nil {
			<-l.loopDone
		}
	})
	return err
}

// Addr implements framelink.Listener.
func (l *listener) Addr() net.Addr { return l.ln.Addr() }
