//go:build unix

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/netstd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }

// The adopted app speaks framelink's wire format: a framelink link from
// another engine (netstd) talks to it, and the app's own Context kept
// counting.
// r[verify transport.gnet.embed] r[verify transport.interop]
func TestShout(t *testing.T) {
	_, addr, stop, err := start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := netstd.Dial(ctx, "tcp", addr.String(), framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	msgs := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte("big "), 100_000)}
	for _, m := range msgs {
		if err := l.Tx().Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	l.Tx().Send(ctx, []byte("count?"))
	for _, m := range msgs {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Bytes(), bytes.ToUpper(m)) {
			t.Fatalf("got %d bytes, want %d", f.Len(), len(m))
		}
		f.Release()
	}
	f, err := l.Rx().Recv(ctx)
	if err != nil || string(f.Bytes()) != "4" {
		t.Fatalf("count: %q %v, want 4", f.Bytes(), err)
	}
	f.Release()
}
