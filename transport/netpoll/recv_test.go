package netpoll

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// A Recv whose context ends while half a frame has arrived returns the
// context's error; the frame is not lost: the next Recv returns it whole.
// r[verify link.rx.recv] r[verify link.tx.cancel]
func TestRecvCancelMidFrame(t *testing.T) {
	l, peer := rawPair(t, "tcp", framelink.Options{})
	want := payload(10000, 3)
	wire := frame(want)
	if _, err := peer.Write(wire[:5000]); err != nil {
		t.Fatal(err)
	}
	// The deadline passes while Recv waits for the rest (the waiter
	// goroutine then still owns the read and hands its frame on).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Rx().Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with an expiring context: %v, want context.DeadlineExceeded", err)
	}
	if _, err := peer.Write(wire[5000:]); err != nil {
		t.Fatal(err)
	}
	f, err := l.Rx().Recv(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatalf("frame after the cancelled Recv: %d bytes, differs", f.Len())
	}
	// And again with the frame already whole before the context ends.
	if _, err := peer.Write(frame([]byte("next"))); err != nil {
		t.Fatal(err)
	}
	f2, err := l.Rx().Recv(testCtx(t))
	if err != nil || string(f2.Bytes()) != "next" {
		t.Fatalf("next frame: %q, %v", f2.Bytes(), err)
	}
	f2.Release()
}
