//go:build unix

package gnet

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gn "github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink"
)

// engine is framelink's gnet.EventHandler: one per Serve, per Listen, and
// one shared by every Dial (see dial.go). It owns its gnet engine through
// the gnet.Engine handle received in OnBoot (never gnet.Stop by address).
type engine struct {
	gn.BuiltinEventEngine

	h        framelink.Handler      // push API; nil for pull
	bh       framelink.BatchHandler // h, if it takes batches
	opts     framelink.Options      // server engines: every conn's options
	pull     bool
	acc      *acceptor // Listen only
	timeouts bool
	tickBase time.Duration
	t0       time.Time

	eng    gn.Engine
	addr   net.Addr
	booted chan struct{}
	done   chan struct{} // closed when gnet.Run returned
	runErr error
	stop   sync.Once

	shutting atomic.Bool
	noPause  atomic.Bool // tests: behave as where read events cannot be switched off

	regMu    sync.Mutex
	reg      []*conn
	kicks    []*conn // ticker scratch
	watchers atomic.Int32
}

func newEngine(o framelink.Options, h framelink.Handler, pull bool) *engine {
	e := &engine{h: h, opts: o, pull: pull, t0: time.Now(), booted: make(chan struct{}), done: make(chan struct{})}
	e.bh, _ = h.(framelink.BatchHandler)
	e.tickBase = 100 * time.Millisecond
	if m := minPositive(o.FrameTimeout, o.IdleTimeout); m > 0 {
		e.timeouts = true
		e.tickBase = min(max(m/10, time.Millisecond), 100*time.Millisecond)
	}
	return e
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// clock is the engine's monotonic clock in nanoseconds (never 0).
func (e *engine) clock() int64 { return int64(time.Since(e.t0)) + 1 }

// readBufferCap is the read buffer of server engines' loops (gnet's
// default is 64 KiB): one buffer per event loop, not per connection. A
// peer with more than 64 KiB in flight (16 frames of 4 KiB) is then read,
// decoded and answered in one read and one write per window instead of
// about 1.6 of each: measured with perf stat on the bench server at
// 64c×4KiB×16, 0.150 syscalls per frame instead of 0.237 (bare gnet
// echo, default buffer: 0.229).
const readBufferCap = 128 << 10

// gnetOptions are the options of server engines: one loop per CPU if
// Multicore, gnet's ticker for timeouts and drain checks, TCP_NODELAY
// (gnet's default), SO_REUSEADDR like Go's net.Listen, a read buffer of
// readBufferCap per loop, a quiet logger.
func (e *engine) gnetOptions() []gn.Option {
	return []gn.Option{
		gn.WithMulticore(e.opts.Multicore),
		gn.WithTicker(true),
		gn.WithTCPNoDelay(gn.TCPNoDelay),
		gn.WithReuseAddr(true),
		gn.WithReadBufferCap(readBufferCap),
		gn.WithLogger(quietLogger{}),
	}
}

// run starts gnet.Run for a server engine and returns once it listens.
func (e *engine) run(network, addr string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return fmt.Errorf("framelink/gnet: unsupported network %q", network)
	}
	proto := network + "://" + addr
	go func() {
		err := gn.Run(e, proto, e.gnetOptions()...)
		e.runErr = err
		close(e.done)
	}()
	select {
	case <-e.booted:
	case <-e.done:
		if e.runErr == nil {
			return fmt.Errorf("framelink/gnet: engine for %s stopped while starting", proto)
		}
		return e.runErr
	}
	a, err := listenAddr(e.eng, network)
	if err != nil {
		e.halt()
		return err
	}
	e.addr = a
	return nil
}

// halt stops the gnet engine through its own handle and waits for
// gnet.Run to return (every loop, the ticker and every connection gone).
// gnet's Engine.Stop polls every 500ms for the end; it is given a context
// that is already cancelled and the end is awaited on gnet.Run instead.
func (e *engine) halt() {
	e.stop.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = e.eng.Stop(ctx)
	})
	<-e.done
}

// listenAddr finds the bound address (port 0) from a dup of the
// listener's descriptor: gnet.Engine has no Addr.
func listenAddr(eng gn.Engine, network string) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}, nil
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: network}, nil
	}
	return nil, fmt.Errorf("framelink/gnet: unexpected listener address %T", sa)
}

// OnBoot implements gnet.EventHandler.
func (e *engine) OnBoot(eng gn.Engine) gn.Action {
	e.eng = eng
	close(e.booted)
	return gn.None
}

// OnOpen implements gnet.EventHandler (on the connection's loop).
func (e *engine) OnOpen(gc gn.Conn) ([]byte, gn.Action) {
	c, dialed := gc.Context().(*conn)
	if !dialed {
		if e.shutting.Load() || (e.acc != nil && e.acc.isClosed()) {
			return nil, gn.Close
		}
		c = newConn(e, &e.opts, e.pull)
	}
	c.bind(gc)
	e.register(c)
	if e.timeouts {
		c.now = e.clock()
		c.lastFrame = c.now
		c.armTimeouts(false)
	}
	if e.h != nil {
		c.mu.Lock()
		c.inLoop = true
		c.mu.Unlock()
		e.h.OnOpen(c)
		c.flush()
		if c.lCloseAsked {
			return nil, gn.Close
		}
	}
	if e.acc != nil && !dialed && !e.acc.push(c) {
		return nil, gn.Close
	}
	return nil, gn.None
}

// OnTraffic implements gnet.EventHandler (on the connection's loop).
func (e *engine) OnTraffic(gc gn.Conn) gn.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gn.Close
	}
	return c.service(true)
}

// OnClose implements gnet.EventHandler (on the connection's loop).
func (e *engine) OnClose(gc gn.Conn, err error) gn.Action {
	if c, ok := gc.Context().(*conn); ok && c.gc == gc && !c.dead {
		c.onClose(err)
	}
	return gn.None
}

// OnTick implements gnet.EventHandler. gnet calls it on its ticker
// goroutine (not a loop); it only reads atomics and queues service runs
// on the loops of the connections that need one: output waiting in gnet's
// buffer (whose draining gnet does not report), a half-close in progress,
// an expired timeout, or every connection during Shutdown.
func (e *engine) OnTick() (time.Duration, gn.Action) {
	shutting := e.shutting.Load()
	if e.watchers.Load() == 0 && !e.timeouts && !shutting {
		return e.tickBase, gn.None
	}
	now := e.clock()
	e.regMu.Lock()
	kicks := e.kicks[:0]
	for _, c := range e.reg {
		if shutting || c.watched.Load() {
			kicks = append(kicks, c)
		} else if dl := c.deadline.Load(); dl != 0 && now >= dl {
			kicks = append(kicks, c)
		}
	}
	e.kicks = kicks
	e.regMu.Unlock()
	for _, c := range kicks {
		c.kick()
	}
	clear(kicks)
	delay := e.tickBase
	if shutting || e.watchers.Load() > 0 {
		delay = time.Millisecond
	}
	return delay, gn.None
}

func (e *engine) register(c *conn) {
	e.regMu.Lock()
	c.regIdx = len(e.reg)
	e.reg = append(e.reg, c)
	e.regMu.Unlock()
}

func (e *engine) unregister(c *conn) {
	e.regMu.Lock()
	if i := c.regIdx; i >= 0 && i < len(e.reg) && e.reg[i] == c {
		last := len(e.reg) - 1
		e.reg[i] = e.reg[last]
		e.reg[i].regIdx = i
		e.reg[last] = nil
		e.reg = e.reg[:last]
		if cap(e.reg) > 64 && len(e.reg) < cap(e.reg)/4 {
			e.reg = append([]*conn(nil), e.reg...)
		}
	}
	c.regIdx = -1
	e.regMu.Unlock()
}

// liveConns counts the registered (open) connections.
func (e *engine) liveConns() int {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	return len(e.reg)
}
