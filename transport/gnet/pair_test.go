//go:build unix

package gnet

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// testCtx is a context bounded by a generous hang detector.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// linkPair makes a dialed gnet link connected to one accepted by a gnet
// Listener, both with options o.
func linkPair(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	a, err = Dial(ctx, "tcp", ln.Addr().String(), o)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	b, err = ln.Accept(ctx)
	if err != nil {
		a.Close()
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		ln.Close()
	})
	return a, b
}

// rawDialPair is a dialed gnet link whose peer is a raw TCP socket.
func rawDialPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := nl.Accept(); ch <- res{c, err} }()
	l, err := Dial(testCtx(t), "tcp", nl.Addr().String(), o)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		l.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		l.Close()
		r.c.Close()
	})
	return l, r.c
}

// rawAcceptPair is a link accepted by a gnet Listener whose peer is a raw
// TCP socket.
func rawAcceptPair(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	l, err := ln.Accept(testCtx(t))
	if err != nil {
		peer.Close()
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		peer.Close()
		ln.Close()
	})
	return l, peer
}
