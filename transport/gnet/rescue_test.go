//go:build unix

package gnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// After the raw peer's half-close, the link returns io.EOF from Recv and
// keeps sending; Tx.Close then ends the stream cleanly. A second link
// whose peer stops reading is closed with Link.Close while its sender is
// blocked: nothing hangs and no goroutine is left (TestMain's goleak).
// r[verify link.tx.close] r[verify link.split] r[verify link.close]
func TestWriteOnlyAfterPeerHalfClose(t *testing.T) {
	ctx := testCtx(t)
	l, peer := rawAcceptPair(t, framelink.Options{HighWater: 64 << 10, LowWater: 16 << 10})
	peer.SetDeadline(time.Now().Add(30 * time.Second)) // hang bound only
	peer.Write(frame([]byte("last")))
	peer.(*net.TCPConn).CloseWrite()
	f, err := l.Rx().Recv(ctx)
	if err != nil || string(f.Bytes()) != "last" {
		t.Fatalf("%q %v", f.Bytes(), err)
	}
	f.Release()
	if _, err := l.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer's half-close: %v, want io.EOF", err)
	}
	go func() {
		for i := range 1000 {
			if err := l.Tx().Send(ctx, bytes.Repeat([]byte{byte(i)}, i)); err != nil {
				t.Errorf("Send %d after the peer's half-close: %v", i, err)
				return
			}
		}
		if err := l.Tx().Close(); err != nil {
			t.Errorf("Tx.Close: %v", err)
		}
	}()
	for i := range 1000 {
		p, err := readFrame(peer)
		if err != nil || !bytes.Equal(p, bytes.Repeat([]byte{byte(i)}, i)) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, err := readFrame(peer); !errors.Is(err, io.EOF) {
		t.Fatalf("after Tx.Close: %v, want io.EOF", err)
	}

	l2, peer2 := rawAcceptPair(t, framelink.Options{HighWater: 64 << 10, LowWater: 16 << 10})
	peer2.(*net.TCPConn).CloseWrite()
	if _, err := l2.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	// Fill until Reserve blocks (the peer does not read).
	for {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := l2.Tx().Send(sctx, make([]byte, 8<<10))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l2.Tx().Send(ctx, []byte("x")); !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}
