//go:build unix

package gnet

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

// Listener.Close stops accepting, keeps the accepted links working, and
// the engine stops (its goroutines gone) when the last of them closes.
// r[verify serve.pull] r[verify link.close]
func TestListenerCloseKeepsLinks(t *testing.T) {
	ctx := testCtx(t)
	ln, err := Listen("tcp", "127.0.0.1:0", framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := ln.(*acceptor).e
	a, err := Dial(ctx, "tcp", ln.Addr().String(), framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(ctx); !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want ErrClosed", err)
	}
	// A new connection is refused (closed on open).
	c, err := net.Dial("tcp", ln.Addr().String())
	if err == nil {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("new connection after Listener.Close: read %v, want EOF", err)
		}
		c.Close()
	}
	// The accepted link still works both ways.
	if err := a.Tx().Send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	f, err := b.Rx().Recv(ctx)
	if err != nil || string(f.Bytes()) != "ping" {
		t.Fatalf("%q %v", f.Bytes(), err)
	}
	f.Release()
	if err := b.Tx().Send(ctx, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	f, err = a.Rx().Recv(ctx)
	if err != nil || string(f.Bytes()) != "pong" {
		t.Fatalf("%q %v", f.Bytes(), err)
	}
	f.Release()
	select {
	case <-e.done:
		t.Fatal("engine stopped while an accepted link was open")
	default:
	}
	b.Close()
	select {
	case <-e.done:
	default:
		t.Fatal("engine still running after the listener and its last link closed")
	}
}

// Dialed links share one client engine, stopped with the last link.
func TestSharedClientEngine(t *testing.T) {
	ctx := testCtx(t)
	s := serve(t, framelink.EchoHandler{}, framelink.Options{})
	a, err := Dial(ctx, "tcp", s.Addr().String(), framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Dial(ctx, "tcp", s.Addr().String(), framelink.Options{MaxFrame: 10})
	if err != nil {
		t.Fatal(err)
	}
	if (*conn)(a.(*pullLink)).e != (*conn)(b.(*pullLink)).e {
		t.Fatal("two Dials got two client engines")
	}
	// Options stay per link: b's limit is 10 bytes.
	if err := b.Tx().Send(ctx, make([]byte, 11)); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("b.Send(11 bytes): %v, want ErrFrameTooLarge", err)
	}
	if err := a.Tx().Send(ctx, make([]byte, 11)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	clientMu.Lock()
	live := client != nil
	clientMu.Unlock()
	if !live {
		t.Fatal("client engine stopped while a link was open")
	}
	b.Close()
	clientMu.Lock()
	live = client != nil
	clientMu.Unlock()
	if live {
		t.Fatal("client engine running after the last link closed")
	}
}
