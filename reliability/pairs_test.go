package reliability

import (
	"context"
	"testing"

	"github.com/framelink/framelink"
)

// A linkPair is a way to get two connected links from the engines: an
// in-process pipe, or a client engine's Dial to a server engine's Listen.
type linkPair struct {
	name           string
	client, server *engine
}

// pairs returns one pair per engine that can make one on its own (pipe, or
// its own Dial to its own Listen), and the cross pairs client≠server when
// cross is set.
func pairs(cross bool) []linkPair {
	var ps []linkPair
	for _, e := range allEngines() {
		if e.pipe != nil {
			ps = append(ps, linkPair{name: e.name, client: e, server: e})
		}
	}
	for _, s := range allEngines() {
		if s.listen == nil {
			continue
		}
		for _, c := range allEngines() {
			if c.dial == nil || (c != s && !cross) {
				continue
			}
			name := c.name
			if c != s {
				name = c.name + "-to-" + s.name
			}
			ps = append(ps, linkPair{name: name, client: c, server: s})
		}
	}
	return ps
}

// make returns two connected links with options o: a is the client (or
// the pipe's first end), b the accepted link. Both are closed, and the
// listener too, by t.Cleanup.
func (p linkPair) make(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	t.Helper()
	if p.client.pipe != nil && p.client == p.server {
		a, b, err := p.client.pipe(o)
		if err != nil {
			t.Fatalf("%s pipe: %v", p.name, err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	ln, err := p.server.listen("tcp", loopback, o)
	if err != nil {
		t.Fatalf("%s Listen: %v", p.server.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	type acc struct {
		l   framelink.Link
		err error
	}
	ch := make(chan acc, 1)
	go func() {
		l, err := ln.Accept(ctx)
		ch <- acc{l, err}
	}()
	a, err = p.client.dial(ctx, "tcp", ln.Addr().String(), o)
	if err != nil {
		t.Fatalf("%s Dial: %v", p.client.name, err)
	}
	t.Cleanup(func() { a.Close() })
	r := <-ch
	if r.err != nil {
		t.Fatalf("%s Accept: %v", p.server.name, r.err)
	}
	b = r.l
	t.Cleanup(func() { b.Close() })
	return a, b
}
