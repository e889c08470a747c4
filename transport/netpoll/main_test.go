package netpoll

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
)

// ignoreNetpoll lists netpoll's process-wide background goroutines: its
// pollers (created on first use, never stopped: netpoll has no per-instance
// poller and we configure nothing global) and its worker pool (workers
// exit shortly after their last task). They are not per link or server.
var ignoreNetpoll = func() (opts []goleak.Option) {
	for _, f := range BackgroundFuncs {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	return opts
}()

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, ignoreNetpoll...)
}

const testTimeout = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// listenAddr returns a network and address for a fresh listener: TCP on
// 127.0.0.1 port 0, or a Unix socket in the test's temp dir.
func listenAddr(t testing.TB, network string) string {
	if network == "unix" {
		return filepath.Join(t.TempDir(), "s")
	}
	return "127.0.0.1:0"
}

// pullPair makes a dialed and an accepted netpoll link over network.
func pullPair(t testing.TB, network string, o framelink.Options) (a, b framelink.Link) {
	t.Helper()
	ln, err := Listen(network, listenAddr(t, network), o)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t)
	a, err = Dial(ctx, network, ln.Addr().String(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.Accept(ctx)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// rawPair makes a netpoll link and a plain net.Conn at its other end.
func rawPair(t testing.TB, network string, o framelink.Options) (framelink.Link, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, listenAddr(t, network))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l, err := Dial(testCtx(t), network, ln.Addr().String(), o)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); peer.Close() })
	return l, peer
}
