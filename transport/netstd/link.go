package netstd

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/sendq"
)

// link is a framelink.Link over a byte stream. Its Tx is a sendq.Tx drained
// by one writer goroutine; its Rx reads in the caller's goroutine (or, for
// readers without deadlines, through one pump goroutine).
type link struct {
	opts   framelink.Options
	conn   net.Conn  // nil for stream links
	w      io.Writer // where frames are written
	writev bool      // w writes net.Buffers with one writev
	closer io.Closer // Close closes the whole stream with it
	// halfClose ends the output so the peer sees a clean end of stream
	// (r[link.tx.close]).
	halfClose func() error

	counters framelink.Counters
	budget   *sendq.Budget
	q        *sendq.Queue
	tx       *sendq.Tx
	rx       rx

	closed     atomic.Bool
	closeOnce  sync.Once
	done       chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer goroutine ends
	pumpDone   chan struct{} // pump mode with an interruptible reader only

	errMu sync.Mutex
	werr  error // first write error

	// writer goroutine state
	batch [][]byte
	iov   [][]byte
	bufs  net.Buffers
}

// NewLink returns a link over c, which it owns from now on: Close closes c.
// Tx.Close half-closes c (CloseWrite on TCP and Unix connections; other
// connections, e.g. net.Pipe, have no half-close and are closed whole,
// which also ends receiving). TCP connections get TCP_NODELAY.
// r[impl transport.netstd]
func NewLink(c net.Conn, o framelink.Options) (framelink.Link, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // Go's default; explicit, r[transport.netstd]
	}
	l := newLink(o)
	l.conn = c
	l.w = c
	l.writev = hasWritev(c)
	l.closer = c
	l.halfClose = func() error {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			return cw.CloseWrite()
		}
		return c.Close()
	}
	l.rx.init(l, codec.NewReader(lazySource(c), o.MaxFrame), c)
	l.start()
	return l, nil
}

// NewStreamLink returns a link that reads frames from r and writes them to
// w, e.g. the two ends of two os.Pipe pairs, or a child's stdout and
// stdin. The link owns r and w from now on.
//
// Close calls closer.Close if closer is not nil, else closes r and w if
// they implement io.Closer. Tx.Close closes w if it implements io.Closer,
// so the peer sees a clean end of stream. If r has working read deadlines
// (a pollable *os.File, a net.Conn), Recv reads in the caller's goroutine;
// otherwise one goroutine per link reads ahead of Recv; Close then waits
// for it unless r is an *os.File (a blocking descriptor whose Read a
// close does not interrupt) or nothing closes r, so closer must interrupt
// a blocked Read of r.
func NewStreamLink(r io.Reader, w io.Writer, closer io.Closer, o framelink.Options) (framelink.Link, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	l := newLink(o)
	l.w = w
	// Close waits for the pump goroutine only where closing interrupts
	// its blocked Read: not for a file without deadlines (a blocking
	// descriptor), nor for a reader nothing closes.
	_, isFile := r.(*os.File)
	_, rCloses := r.(io.Closer)
	waitPump := !isFile && (closer != nil || rCloses)
	if closer == nil {
		closer = pairCloser{r, w}
	}
	l.closer = closer
	l.halfClose = func() error {
		if wc, ok := w.(io.Closer); ok {
			return wc.Close()
		}
		return nil
	}
	var dl deadliner
	if d, ok := r.(deadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		dl = d
	}
	l.rx.init(l, codec.NewReader(r, o.MaxFrame), dl)
	if dl == nil {
		l.rx.pump = make(chan pumped)
		if waitPump {
			l.pumpDone = make(chan struct{})
		}
		go l.rx.pumpLoop(l.pumpDone)
	}
	l.start()
	return l, nil
}

func newLink(o framelink.Options) *link {
	l := &link{
		opts:       o,
		budget:     sendq.NewBudget(o.HighWater, o.LowWater),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	l.q = sendq.NewQueue(l.budget)
	l.tx = sendq.NewTx(l.q, l.budget, &l.counters, o.MaxFrame, l.closeTx)
	return l
}

func (l *link) start() { go l.writeLoop() }

// Tx implements framelink.Link.
func (l *link) Tx() framelink.Tx { return l.tx }

// Rx implements framelink.Link.
func (l *link) Rx() framelink.Rx { return &l.rx }

// Stats implements framelink.Link.
func (l *link) Stats() framelink.Stats {
	s := l.counters.Snapshot()
	s.QueuedBytes = l.budget.Queued()
	return s
}

// Close implements framelink.Link. r[impl link.close]
func (l *link) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.budget.Close(framelink.ErrClosed)
		l.q.Shut(framelink.ErrClosed)
		close(l.done)
		_ = l.closer.Close()
		<-l.writerDone
		if l.pumpDone != nil {
			<-l.pumpDone
		}
	})
	return nil
}

// closeTx is Tx.Close after Reserve was shut: the writer flushes every
// committed frame, half-closes, and ends. r[impl link.tx.close]
func (l *link) closeTx() error {
	l.q.Shut(framelink.ErrClosed)
	<-l.writerDone
	if l.closed.Load() {
		return nil
	}
	return l.writeErr()
}

func (l *link) setWriteErr(err error) {
	l.errMu.Lock()
	if l.werr == nil {
		l.werr = err
	}
	l.errMu.Unlock()
}

func (l *link) writeErr() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.werr
}

// pairCloser closes a reader and a writer that each may be an io.Closer.
type pairCloser struct {
	r io.Reader
	w io.Writer
}

func (p pairCloser) Close() error {
	var errs []error
	if c, ok := p.r.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := p.w.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// hasWritev reports whether net.Buffers.WriteTo on w is one writev.
func hasWritev(w io.Writer) bool {
	switch w.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// poolRelease gives received frames back to the pool.
type poolRelease struct{}

func (poolRelease) ReleaseFrame(b []byte) { pool.Put(b) }
