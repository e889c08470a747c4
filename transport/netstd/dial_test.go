package netstd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/framelink/framelink"
)

func echoOnce(t *testing.T, ctx context.Context, a, b framelink.Link, p []byte) {
	t.Helper()
	if err := a.Tx().Send(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := recvBytes(t, ctx, b); !bytes.Equal(got, p) {
		t.Fatalf("got %q, want %q", got, p)
	}
}

// dialAcceptLocal dials name, where the local listener ln listens, and
// accepts that connection: the client's link and the server's. The caller
// closes both.
func dialAcceptLocal(t *testing.T, ctx context.Context, ln framelink.Listener, name string) (c, s framelink.Link) {
	t.Helper()
	c, err := DialLocal(ctx, name, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err = ln.Accept(ctx)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, s
}

// r[verify serve.pull] r[verify transport.local] r[verify transport.dialer]
func TestListenDialer(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"unix", filepath.Join(dir, "u.sock")},
		{"local", filepath.Join(dir, "l.sock")},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ctx := testCtx(t)
			ln, err := Listen(tc.network, tc.addr, framelink.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			addr := ln.Addr().String()
			if tc.network == "local" {
				addr = tc.addr
			}
			d := &Dialer{Network: tc.network, Addr: addr}
			// A fresh link per Dial, each served by its own accepted link.
			for i := range 3 {
				c, err := d.Dial(ctx)
				if err != nil {
					t.Fatal(err)
				}
				s, err := ln.Accept(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tc.network == "tcp" {
					tcpc := c.(*link).conn.(*net.TCPConn)
					raw, _ := tcpc.SyscallConn()
					if !noDelay(t, raw) {
						t.Fatal("TCP_NODELAY off on a dialed link")
					}
				}
				echoOnce(t, ctx, c, s, payload(i, 10))
				echoOnce(t, ctx, s, c, payload(i, 20))
				c.Close()
				s.Close()
			}
		})
	}
}

func TestLocalLink(t *testing.T) {
	ctx := testCtx(t)
	name := filepath.Join(t.TempDir(), "ll")
	ln, err := ListenLocal(name, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, s := dialAcceptLocal(t, ctx, ln, name)
	defer c.Close()
	defer s.Close()
	echoOnce(t, ctx, c, s, []byte("ping"))
	echoOnce(t, ctx, s, c, []byte("pong"))
	if LocalPath("x") == LocalPath("y") || LocalPath("/a/b") != "/a/b" {
		t.Fatalf("LocalPath: %q %q", LocalPath("x"), LocalPath("/a/b"))
	}
}

func TestAcceptCancelAndClose(t *testing.T) {
	ctx := testCtx(t)
	ln, err := Listen("tcp", "127.0.0.1:0", framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ln.Accept(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept with cancelled ctx: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept(ctx)
		done <- err
	}()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := NewLink(c1, framelink.Options{HighWater: 10, LowWater: 20}); err == nil {
		t.Fatal("NewLink accepted low water above high water")
	}
	if _, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{IdleTimeout: -1}); err == nil {
		t.Fatal("Serve accepted a negative timeout")
	}
}

// A stale socket file (its listener gone without unlinking) is replaced;
// a live one is not taken over.
func TestListenLocalStale(t *testing.T) {
	ctx := testCtx(t)
	name := filepath.Join(t.TempDir(), "stale")
	ul, err := net.Listen("unix", LocalPath(name))
	if err != nil {
		t.Fatal(err)
	}
	ul.(*net.UnixListener).SetUnlinkOnClose(false)
	ul.Close() // the file stays, nobody listens
	ln, err := ListenLocal(name, framelink.Options{})
	if err != nil {
		t.Fatalf("ListenLocal over a stale socket: %v", err)
	}
	defer ln.Close()
	if _, err := ListenLocal(name, framelink.Options{}); err == nil {
		t.Fatal("ListenLocal took over a live listener")
	}
	// That attempt's liveness probe is an empty connection.
	probe, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("probe connection: %v", err)
	}
	probe.Close()
	c, s := dialAcceptLocal(t, ctx, ln, name)
	defer c.Close()
	defer s.Close()
	echoOnce(t, ctx, c, s, []byte("hi"))
}
