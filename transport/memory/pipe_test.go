package memory_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
	"github.com/framelink/framelink/transport/memory"
)

// TestPipeOptions: invalid options are refused.
func TestPipeOptions(t *testing.T) {
	if _, _, err := memory.Pipe(framelink.Options{HighWater: 10, LowWater: 20}); err == nil {
		t.Fatal("Pipe accepted LowWater above HighWater")
	}
}

// TestQueuedIsUnreceived: the budget counts exactly the bytes (payload and
// header) committed and not yet taken by the peer's Recv.
// r[verify transport.memory] r[verify link.stats]
func TestQueuedIsUnreceived(t *testing.T) {
	ctx := context.Background()
	a, b := pipe(t, framelink.Options{})
	want := int64(0)
	for _, n := range []int{0, 10, 1000} {
		if err := a.Tx().Send(ctx, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		want += int64(4 + n)
		if q := a.Stats().QueuedBytes; q != want {
			t.Fatalf("QueuedBytes %d after sending, want %d", q, want)
		}
	}
	for _, n := range []int{0, 10, 1000} {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want -= int64(4 + n)
		if q := a.Stats().QueuedBytes; q != want {
			t.Fatalf("QueuedBytes %d after receiving, want %d", q, want)
		}
		f.Release()
	}
}

// TestPeerOfClosed: after a.Close, b receives what a committed before,
// then io.EOF; b's sends fail with io.ErrClosedPipe; the frames a had not
// received no longer count against b's budget.
// r[verify transport.memory] r[verify link.close]
func TestPeerOfClosed(t *testing.T) {
	ctx := context.Background()
	a, b := pipe(t, framelink.Options{HighWater: 100, LowWater: 50})
	if err := a.Tx().Send(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := b.Tx().Send(ctx, make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	if b.Stats().QueuedBytes <= 0 {
		t.Fatal("nothing queued")
	}
	// b is over its high-water mark: a Reserve waits, and a.Close wakes it.
	res := make(chan error, 1)
	go func() {
		_, err := b.Tx().Reserve(ctx)
		res <- err
	}()
	a.Close()
	if err := <-res; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("b's pending Reserve after a.Close = %v, want io.ErrClosedPipe", err)
	}
	if q := b.Stats().QueuedBytes; q != 0 {
		t.Fatalf("b's QueuedBytes %d after a dropped its frames, want 0", q)
	}
	f, err := b.Rx().Recv(ctx)
	if err != nil || string(f.Bytes()) != "before" {
		t.Fatalf("b.Recv = %q, %v; want the frame committed before Close", f.Bytes(), err)
	}
	f.Release()
	for range 2 {
		if _, err := b.Rx().Recv(ctx); err != io.EOF {
			t.Fatalf("b.Recv after the frames = %v, want io.EOF", err)
		}
	}
	if err := b.Tx().Send(ctx, []byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("b.Send after a.Close = %v, want io.ErrClosedPipe", err)
	}
	// b's own Close still works and turns its errors into ErrClosed.
	b.Close()
	if err := b.Tx().Send(ctx, []byte("x")); !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("b.Send after b.Close = %v, want ErrClosed", err)
	}
}

// TestRoundTripAllocs: steady-state send and receive allocate nothing
// (skipped under the race detector, whose sync.Pool drops items).
// r[verify transport.memory]
func TestRoundTripAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	if pool.Debug {
		t.Skip("the debug build records every buffer and slot")
	}
	ctx := context.Background()
	a, b := pipe(t, framelink.Options{})
	p := make([]byte, 4096)
	rt := func() {
		if err := a.Tx().Send(ctx, p); err != nil {
			t.Fatal(err)
		}
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
	}
	rt()
	if n := testing.AllocsPerRun(1000, rt); n != 0 {
		t.Fatalf("round trip: %v allocs, want 0", n)
	}
}
