//go:build !windows

package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"golang.org/x/sys/unix"
)

// Dial connects to addr on network ("tcp", "tcp4", "tcp6" or "unix") and
// returns a pull-API link whose I/O runs on netpoll. The connection is set
// up by Go's net.Dialer, so ctx bounds and cancels the dial; the socket is
// then handed to netpoll (TCP_NODELAY stays on). The caller owns the link
// and must Close it. r[impl serve.pull]
func Dial(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return linkFromNetConn(nc, o)
}

// NewLink returns a link over nc (a *net.TCPConn or *net.UnixConn), which
// it takes over: nc itself is closed, and its socket is served by netpoll
// from now on. The caller owns the link and must Close it.
func NewLink(nc net.Conn, o framelink.Options) (framelink.Link, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	return linkFromNetConn(nc, o)
}

func linkFromNetConn(nc net.Conn, o framelink.Options) (framelink.Link, error) {
	c, err := toNetpoll(nc)
	if err != nil {
		return nil, err
	}
	l, err := newLink(c, o, true)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return l, nil
}

// toNetpoll moves nc's socket to netpoll: it duplicates the descriptor
// (close-on-exec), closes nc, and registers the duplicate with netpoll's
// pollers. nc is closed in every case.
func toNetpoll(nc net.Conn) (netpoll.Connection, error) {
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // Go's default too; the duplicate shares it
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("framelink/netpoll: %T has no file descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	c, err := netpoll.NewFDConnection(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	return c, nil
}

// Listen listens on addr and returns a pull-API listener whose links run
// on netpoll. Connections are accepted by Go's net.Listener (one accept
// goroutine per listener, not per connection) and handed to netpoll. The
// caller owns the listener (Close it) and every link Accept returns.
// r[impl serve.pull]
func Listen(network, addr string, o framelink.Options) (framelink.Listener, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	l := &listener{ln: ln, o: o, conns: make(chan accepted), done: make(chan struct{}), loopDone: make(chan struct{})}
	go l.loop()
	return l, nil
}

type accepted struct {
	l   framelink.Link
	err error
}

// listener implements framelink.Listener. Accept and Close are safe from
// any goroutine.
type listener struct {
	ln        net.Listener
	o         framelink.Options
	conns     chan accepted
	done      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
}

// Accept waits for the next link (owned by the caller), ctx's end, or
// Close (ErrClosed).
func (l *listener) Accept(ctx context.Context) (framelink.Link, error) {
	select {
	case a := <-l.conns:
		return a.l, a.err
	case <-l.done:
		return nil, framelink.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loop accepts connections and hands each, as a link, to one Accept. A
// link nobody takes before Close is closed.
func (l *listener) loop() {
	defer close(l.loopDone)
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case l.conns <- accepted{err: err}:
			case <-l.done:
				return
			}
			continue
		}
		lk, err := linkFromNetConn(nc, l.o)
		if err != nil {
			continue
		}
		select {
		case l.conns <- accepted{l: lk}:
		case <-l.done:
			_ = lk.Close()
			return
		}
	}
}

// Close stops accepting; links already accepted stay open. Idempotent.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
		<-l.loopDone
	})
	return err
}

// Addr returns the listening address.
func (l *listener) Addr() net.Addr { return l.ln.Addr() }
