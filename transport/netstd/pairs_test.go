package netstd

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// The transports every link test runs over.
var (
	pairs = map[string]func(t *testing.T, o framelink.Options) (a, b framelink.Link){
		"tcp":     tcpPair,
		"unix":    unixPair,
		"netpipe": netPipePair,
		"ospipe":  osPipePair,
		"iopipe":  ioPipePair,
	}
	rawPairs = map[string]func(t *testing.T, o framelink.Options) (framelink.Link, net.Conn){
		"tcp":     tcpRawPair,
		"unix":    unixRawPair,
		"netpipe": netPipeRawPair,
		"ospipe":  osPipeRawPair,
	}
)

func mustLink(t *testing.T, c net.Conn, o framelink.Options) framelink.Link {
	t.Helper()
	l, err := NewLink(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// mustStreamLink is NewStreamLink(r, w, nil, o), closed at cleanup.
func mustStreamLink(t *testing.T, r io.Reader, w io.Writer, o framelink.Options) framelink.Link {
	t.Helper()
	l, err := NewStreamLink(r, w, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connPair returns two connected net.Conns on network.
func connPair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c1, err := d.DialContext(ctx, network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		t.Fatal(r.err)
	}
	return c1, r.c
}

func tcpPair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	c1, c2 := connPair(t, "tcp")
	return mustLink(t, c1, o), mustLink(t, c2, o)
}

func unixPair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	c1, c2 := connPair(t, "unix")
	return mustLink(t, c1, o), mustLink(t, c2, o)
}

func netPipePair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	c1, c2 := net.Pipe()
	return mustLink(t, c1, o), mustLink(t, c2, o)
}

// osPipe is os.Pipe, failing t on an error.
func osPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

func osPipePair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	r1, w1 := osPipe(t)
	r2, w2 := osPipe(t)
	return mustStreamLink(t, r1, w2, o), mustStreamLink(t, r2, w1, o)
}

// ioPipePair links over two io.Pipes: readers without deadlines, so
// Recv goes through the pump goroutine.
func ioPipePair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	r1, w1 := io.Pipe()
	r2, w2 := io.Pipe()
	return mustStreamLink(t, r1, w2, o), mustStreamLink(t, r2, w1, o)
}

func tcpRawPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	c1, c2 := connPair(t, "tcp")
	t.Cleanup(func() { c2.Close() })
	return mustLink(t, c1, o), c2
}

func unixRawPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	c1, c2 := connPair(t, "unix")
	t.Cleanup(func() { c2.Close() })
	return mustLink(t, c1, o), c2
}

func netPipeRawPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c2.Close() })
	return mustLink(t, c1, o), c2
}

func osPipeRawPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	r1, w1 := osPipe(t)
	r2, w2 := osPipe(t)
	l := mustStreamLink(t, r1, w2, o)
	peer := &filePairConn{r: r2, w: w1}
	t.Cleanup(func() { peer.Close() })
	return l, peer
}

// filePairConn is a net.Conn over two pipe ends, for the raw side of an
// os.Pipe link.
type filePairConn struct {
	r, w *os.File
}

func (c *filePairConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *filePairConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *filePairConn) Close() error {
	c.r.Close()
	c.w.Close()
	return nil
}
func (c *filePairConn) CloseWrite() error                  { return c.w.Close() }
func (c *filePairConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (c *filePairConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (c *filePairConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *filePairConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }
func (c *filePairConn) SetDeadline(t time.Time) error {
	c.r.SetReadDeadline(t)
	return c.w.SetWriteDeadline(t)
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
