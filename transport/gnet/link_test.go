//go:build unix

package gnet

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
)

// r[verify serve.pull] r[verify transport.gnet]
func TestLinkBasic(t *testing.T) {
	ctx := testCtx(t)
	a, b := linkPair(t, framelink.Options{})
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, i*37)
		if err := a.Tx().Send(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, assembled
	if err := a.Tx().Send(ctx, big); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			t.Fatal(i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, i*37); !bytes.Equal(f.Bytes(), want) {
			t.Fatalf("frame %d: %d bytes, want %d", i, f.Len(), len(want))
		}
		f.Release()
	}
	f, err := b.Rx().Recv(ctx)
	if err != nil || !bytes.Equal(f.Bytes(), big) {
		t.Fatalf("big frame: %v, %d bytes", err, f.Len())
	}
	f.Release()
	if err := a.Tx().Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after Tx.Close: %v, want io.EOF", err)
	}
	if _, err := b.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("second Recv after EOF: %v, want io.EOF", err)
	}
}

// r[verify conformance.suite]
func TestLinktest(t *testing.T) {
	linktest.Run(t, linkPair)
}

func TestLinktestRawDial(t *testing.T) {
	linktest.RunRaw(t, rawDialPair)
}

func TestLinktestRawAccept(t *testing.T) {
	linktest.RunRaw(t, rawAcceptPair)
}
