//go:build unix

package gnet

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/netpoll"
	"github.com/framelink/framelink/transport/netstd"
)

type engineAPI struct {
	name   string
	dial   func(context.Context, string, string, framelink.Options) (framelink.Link, error)
	serve  func(string, string, framelink.Handler, framelink.Options) (framelink.Server, error)
	listen func(string, string, framelink.Options) (framelink.Listener, error)
}

var (
	gnetAPI   = engineAPI{"gnet", Dial, Serve, Listen}
	otherAPIs = []engineAPI{{"netstd", netstd.Dial, netstd.Serve, netstd.Listen}, {"netpoll", netpoll.Dial, netpoll.Serve, netpoll.Listen}}
	// A high-water mark above everything exchanged: the echo servers
	// must not push back here (netpoll's engine closes a connection whose
	// output passes it, as documented there).
	interopOpt = framelink.Options{Multicore: true, HighWater: 64 << 20}
)

// exchange sends frames of many sizes from a and checks that b receives
// exactly them (after an echo server, b == a).
func exchange(t *testing.T, ctx context.Context, a, b framelink.Link) {
	t.Helper()
	var want [][]byte
	for i := range 64 {
		n := i * i * 41
		if i == 63 {
			n = 3 << 20
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*7 + j*13)
		}
		want = append(want, p)
	}
	errc := make(chan error, 1)
	go func() {
		for _, p := range want {
			if err := a.Tx().Send(ctx, p); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, w := range want {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.Bytes(), w) {
			t.Fatalf("frame %d: %d bytes differ from the %d sent", i, f.Len(), len(w))
		}
		f.Release()
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Every engine's client talks to gnet's server and gnet's client to every
// engine's server, push (echo) and pull (link to link, both directions),
// bytes verified.
// r[verify transport.interop]
func TestInterop(t *testing.T) {
	type pairing struct{ client, server engineAPI }
	var ps []pairing
	for _, o := range otherAPIs {
		ps = append(ps, pairing{gnetAPI, o}, pairing{o, gnetAPI})
	}
	for _, p := range ps {
		t.Run(fmt.Sprintf("%s-to-%s/echo", p.client.name, p.server.name), func(t *testing.T) {
			ctx := testCtx(t)
			s, err := p.server.serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, interopOpt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(ctx)
			l, err := p.client.dial(ctx, "tcp", s.Addr().String(), interopOpt)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			exchange(t, ctx, l, l)
		})
		t.Run(fmt.Sprintf("%s-to-%s/links", p.client.name, p.server.name), func(t *testing.T) {
			ctx := testCtx(t)
			ln, err := p.server.listen("tcp", "127.0.0.1:0", interopOpt)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a, err := p.client.dial(ctx, "tcp", ln.Addr().String(), interopOpt)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := ln.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			exchange(t, ctx, a, b)
			exchange(t, ctx, b, a)
		})
	}
}
