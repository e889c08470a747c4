package linktest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
)

// Pair makes two connected links with options o (already valid, maybe not
// normalized). It registers, with t.Cleanup, whatever closes both links and
// stops anything else it started. Links may be closed by the test before
// the cleanup runs, so Close must be idempotent (it is, per r[link.close]).
type Pair func(t *testing.T, o framelink.Options) (a, b framelink.Link)

// RawPair makes a link with options o and the raw byte stream at its other
// end: bytes written to peer are what the link decodes, and bytes the link
// writes are read from peer. It registers, with t.Cleanup, whatever closes
// both. peer must support deadlines (SetDeadline), as net.Pipe and every
// socket do.
type RawPair func(t *testing.T, o framelink.Options) (l framelink.Link, peer net.Conn)

// An Option adjusts how Run and RunRaw check an engine.
type Option func(*config)

type config struct {
	ignore  []goleak.Option
	skip    map[string]string
	stalled string // reason to skip the subtests needing a stalled receiver
	timeout time.Duration
}

// DefaultTimeout bounds every wait of the suite unless Timeout says
// otherwise. It is generous: a slow shared CI machine must never hit it,
// and it exists only so that a hang fails instead of blocking forever.
const DefaultTimeout = 20 * time.Second

// IgnoreGoroutines adds goleak options for goroutines that legitimately
// outlive a link: an engine's process-wide pollers or event loops, for
// example goleak.IgnoreTopFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait").
func IgnoreGoroutines(opts ...goleak.Option) Option {
	return func(c *config) { c.ignore = append(c.ignore, opts...) }
}

// Skip skips the subtest called name (its path below Run or RunRaw, e.g.
// "TxClose/HalfClose") with the reason given, for an engine that
// legitimately cannot support that case. The reason is printed with the
// skip; say why in the engine's documentation as well.
func Skip(name, reason string) Option {
	return func(c *config) {
		if c.skip == nil {
			c.skip = map[string]string{}
		}
		c.skip[name] = reason
	}
}

// SkipStalledReceiver skips every subtest that needs a receiver which
// stops reading so that its peer's Reserve blocks (Tx/Backpressure,
// Tx/Cancel, Tx/CommitWhileBlocked, TxClose/PendingReserve,
// Close/Pending), for an engine whose receiving side reads the connection
// whether or not Recv is called. Such an engine must check its sender's
// backpressure another way, e.g. against a non-reading peer of another
// engine.
func SkipStalledReceiver(reason string) Option {
	return func(c *config) { c.stalled = reason }
}

// Timeout sets the bound on every single wait of the suite (default
// DefaultTimeout). It is a hang detector, not a performance assertion.
func Timeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

func newConfig(opts []Option) config {
	c := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// suite carries the configuration through the subtests.
type suite struct {
	cfg config
	mk  Pair
	raw RawPair
}

// run runs f as subtest name, honouring Skip, and registers the goroutine
// leak check before f runs, so that it runs after every cleanup f (and the
// constructor) registers.
func (s *suite) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		for skip, reason := range s.cfg.skip {
			if strings.HasSuffix(t.Name(), "/"+skip) {
				t.Skip("skipped by linktest.Skip: " + reason)
			}
		}
		opts := append([]goleak.Option{goleak.IgnoreCurrent()}, s.cfg.ignore...)
		t.Cleanup(func() {
			if t.Failed() {
				return // a failed subtest may leave a goroutine blocked on purpose
			}
			if err := goleak.Find(opts...); err != nil {
				t.Errorf("goroutines left after the links were closed (r[link.close]): %v", err)
			}
		})
		f(t)
	})
}

// runStalled is run for a subtest that needs a receiver that stops
// reading.
func (s *suite) runStalled(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if s.cfg.stalled != "" {
		t.Run(name, func(t *testing.T) {
			t.Skip("skipped by linktest.SkipStalledReceiver: " + s.cfg.stalled)
		})
		return
	}
	s.run(t, name, f)
}

// pair makes a link pair with o.
func (s *suite) pair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	t.Helper()
	a, b = s.mk(t, o)
	if a == nil || b == nil {
		t.Fatal("linktest: Pair returned a nil link")
	}
	return a, b
}

// rawPair makes a link and its raw peer with o; every peer I/O is bounded
// by the suite's timeout.
func (s *suite) rawPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	t.Helper()
	l, peer := s.raw(t, o)
	if l == nil || peer == nil {
		t.Fatal("linktest: RawPair returned nil")
	}
	if err := peer.SetDeadline(time.Now().Add(s.cfg.timeout)); err != nil {
		t.Fatalf("linktest: peer.SetDeadline: %v", err)
	}
	return l, peer
}

// ctx returns a context bounded by the suite's timeout, cancelled when the
// subtest ends.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	t.Cleanup(cancel)
	return ctx
}

// Run checks the link↔link requirements (every link.* ID of SPEC.md
// section 2, and wire.empty, large frames and the max-frame boundary) over
// pairs made by mk. Call it from the goroutine of a Test function (it
// uses t.Run; its subtests do not run in parallel); mk is called from the
// subtests' goroutines, once per subtest. The links mk returns belong to
// the suite until its cleanup closes them.
func Run(t *testing.T, mk Pair, opts ...Option) {
	t.Helper()
	s := &suite{cfg: newConfig(opts), mk: mk}
	s.run(t, "Split", s.testSplit)
	s.run(t, "Message", s.testMessage)
	s.run(t, "Order", s.testOrder)
	s.run(t, "Empty", s.testEmpty)
	s.run(t, "Large", s.testLarge)
	s.run(t, "MaxFrame", s.testMaxFrame)
	s.runTx(t)
	s.runRx(t)
	s.runClose(t)
	s.run(t, "Stats", s.testStats)
	s.run(t, "Errors", s.testErrors)
}

// RunRaw checks the wire.* requirements, and the link.* ones only visible
// on the wire (r[link.rx.error], r[link.tx.coalesce]), over a link and the
// raw byte stream at its other end made by mk. It is called like Run; the
// suite sets deadlines on peer, writes to it, reads from it and may close
// it.
func RunRaw(t *testing.T, mk RawPair, opts ...Option) {
	t.Helper()
	s := &suite{cfg: newConfig(opts), raw: mk}
	s.runRaw(t)
}
