package reliability

import (
	"context"
	"net"
	"os"
	"sort"
	"testing"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
)

// An engine is one framelink I/O engine as the tests see it: the three
// entry points every engine exports (any may be nil where the engine has
// none) or, for the in-process engine, a pipe constructor.
type engine struct {
	name string

	dial   func(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error)
	listen func(network, addr string, o framelink.Options) (framelink.Listener, error)
	serve  func(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error)
	pipe   func(o framelink.Options) (a, b framelink.Link, err error)

	// ignore lists goroutines that legitimately outlive every link and
	// server: engine-wide pollers started on first use.
	ignore []goleak.Option

	// noPause is set for a push server that cannot hold a connection
	// whose peer does not read paused indefinitely; TestStalledPeer then
	// expects it to close the connection, with an error, instead.
	noPause bool

	// halfCloseEndsConn is set for a server that closes the whole
	// connection as soon as the peer half-closes (Tx.Close), cutting
	// output still in flight (gnet: its loop closes on read EOF after one
	// non-blocking attempt to flush). Loss-matrix clients of such a
	// server wait for every echo before their Tx.Close; TestFaultHalfClose
	// measures what is lost.
	halfCloseEndsConn bool

	// shutdownKeepsEchoes is set for a push server whose Shutdown
	// delivers every committed echo to a client still sending (it
	// half-closes after its output and drains input instead of closing
	// with unread input), with this engine's own client: TestFaultShutdown
	// "busy" then asserts none is lost.
	shutdownKeepsEchoes bool

	// bugs lists the engine's known bugs, found by these tests and
	// reported to the engine's owner, by id: the tests that show one skip
	// (or, in the loss matrix, work around it) unless FRAMELINK_KNOWN_BUGS
	// is set, so that CI stays green while the bug is open. Remove an
	// entry when the bug is fixed.
	bugs map[string]string

	// warm, if set, is run once before the first leak baseline so that
	// lazily created engine-wide resources (pollers, their fds) exist.
	warm func(t *testing.T)
}

var engines = map[string]*engine{}

// register adds an engine; each engine_NAME_test.go calls it from init.
func register(e *engine) { engines[e.name] = e }

// allEngines returns the registered engines sorted by name.
func allEngines() []*engine {
	var es []*engine
	for _, e := range engines {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// netEngines returns the engines that have network servers or clients.
func netEngines() []*engine {
	var es []*engine
	for _, e := range allEngines() {
		if e.dial != nil || e.listen != nil || e.serve != nil {
			es = append(es, e)
		}
	}
	return es
}

// allIgnores is the union of every engine's goroutine ignores.
func allIgnores() []goleak.Option {
	var o []goleak.Option
	for _, e := range allEngines() {
		o = append(o, e.ignore...)
	}
	return o
}

// A serverKind is how a server side is run.
type serverKind string

const (
	push serverKind = "push" // Serve + Handler
	pull serverKind = "pull" // Listen + Accept + Recv/Send loop
)

// kinds returns the server kinds e offers.
func (e *engine) kinds() []serverKind {
	var k []serverKind
	if e.serve != nil {
		k = append(k, push)
	}
	if e.listen != nil {
		k = append(k, pull)
	}
	return k
}

// dialer returns a client engine to use against servers of e: e itself if
// it has Dial, else the first engine that does.
func clientFor(e *engine) *engine {
	if e.dial != nil {
		return e
	}
	for _, c := range allEngines() {
		if c.dial != nil {
			return c
		}
	}
	return nil
}

// loopback is the only address tests listen on.
const loopback = "127.0.0.1:0"

// rawDial opens a plain TCP connection to addr, for hand-made bytes.
// It is closed at cleanup.
func rawDial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("raw dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// warmEngine makes one round trip on e (its own Dial to its own push
// server) so that engine-wide resources created on first use (pollers,
// their descriptors) exist before a leak baseline is taken.
func warmEngine(t *testing.T) {
	for _, e := range allEngines() {
		if e.warm == nil || e.serve == nil || e.dial == nil {
			continue
		}
		srv, err := e.serve("tcp", loopback, framelink.EchoHandler{}, framelink.Options{})
		if err != nil {
			t.Fatalf("warming %s: %v", e.name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		l, err := e.dial(ctx, "tcp", srv.Addr().String(), framelink.Options{})
		if err == nil {
			if err = l.Tx().Send(ctx, []byte("warm")); err == nil {
				var f framelink.Frame
				if f, err = l.Rx().Recv(ctx); err == nil {
					f.Release()
				}
			}
			l.Close()
		}
		srv.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("warming %s: %v", e.name, err)
		}
	}
}

// Known-bug ids (see engine.bugs).
const (
	// bugDrainAfterClose: after its own Tx.Close, a link loses frames the
	// peer sent before its clean end of stream (Recv: io.ErrUnexpectedEOF).
	bugDrainAfterClose = "drain-after-close"
	// bugRawSendError: a send on a connection the peer dropped fails with
	// an error outside the taxonomy.
	bugRawSendError = "raw-send-error"
	// bugCloseRecvRace: Link.Close while a Recv is pending is a data race.
	bugCloseRecvRace = "close-recv-race"
	// bugCloseResets: Tx.Close racing concurrent senders sometimes resets
	// the connection instead of half-closing it: the echoes are lost.
	bugCloseResets = "txclose-resets"
)

// clientWithout returns a client engine for servers of e without the open
// bug id: e's own client if it has none, else another engine's.
func clientWithout(e *engine, id string) *engine {
	if c := clientFor(e); c != nil && !c.hasBug(id) {
		return c
	}
	for _, c := range allEngines() {
		if c.dial != nil && !c.hasBug(id) {
			return c
		}
	}
	return nil
}

// knownBugs reports whether the known bugs should be shown (fail) rather
// than skipped: FRAMELINK_KNOWN_BUGS=1.
func knownBugs() bool { return os.Getenv("FRAMELINK_KNOWN_BUGS") != "" }

// hasBug reports whether e has the open bug id and bugs are not being
// shown.
func (e *engine) hasBug(id string) bool { return e.bugs[id] != "" && !knownBugs() }

// skipBug skips t if e has the open bug id.
func skipBug(t *testing.T, e *engine, id string) {
	t.Helper()
	if e.hasBug(id) {
		noteTried(e.name, "SKIPPED (known bug "+id+")")
		t.Skipf("known issue in %s: %s. FRAMELINK_KNOWN_BUGS=1 shows it failing.", e.name, e.bugs[id])
	}
}
