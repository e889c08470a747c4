package linktest

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

// testStats: frames and bytes in and out count exactly the frames
// committed and received (not discarded slots, released permits or
// refused sends), and the queue is empty once everything was received.
// r[verify link.stats]
func (s *suite) testStats(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{MaxFrame: 1 << 20})
	for _, l := range []framelink.Link{a, b} {
		if st := l.Stats(); st != (framelink.Stats{}) {
			t.Fatalf("a fresh link's Stats = %+v, want all zero", st)
		}
	}
	var frames, bytes uint64
	for i, n := range messageSizes {
		send(t, ctx, a, pattern(n, byte(i)))
		frames++
		bytes += uint64(n)
	}
	pm, err := a.Tx().Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pm.Release()
	pm, err = a.Tx().Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := pm.Alloc(500)
	if err != nil {
		t.Fatal(err)
	}
	sl.Discard()
	if err := a.Tx().Send(ctx, make([]byte, 1<<20+1)); err == nil {
		t.Fatal("Send above MaxFrame succeeded")
	}
	for range messageSizes {
		recv(t, ctx, b)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.FramesOut != frames || sa.BytesOut != bytes {
		t.Errorf("sender: FramesOut %d BytesOut %d, want %d and %d", sa.FramesOut, sa.BytesOut, frames, bytes)
	}
	if sb.FramesIn != frames || sb.BytesIn != bytes {
		t.Errorf("receiver: FramesIn %d BytesIn %d, want %d and %d", sb.FramesIn, sb.BytesIn, frames, bytes)
	}
	if sa.FramesIn != 0 || sa.BytesIn != 0 || sb.FramesOut != 0 || sb.BytesOut != 0 {
		t.Errorf("counters of the idle directions moved: sender %+v, receiver %+v", sa, sb)
	}
	if sa.Oversize != 0 || sb.Oversize != 0 {
		t.Errorf("Oversize counted without an oversize header: %d, %d", sa.Oversize, sb.Oversize)
	}
	if sa.QueuedBytes < 0 || sb.QueuedBytes != 0 {
		t.Errorf("QueuedBytes: sender %d (want >= 0), receiver %d (want 0)", sa.QueuedBytes, sb.QueuedBytes)
	}
	s.expectDrained(t, ctx, a, b)
}

// testErrors: the taxonomy holds with errors.Is and errors.As.
// r[verify link.errors]
func (s *suite) testErrors(t *testing.T) {
	if !errors.Is(framelink.ErrClosed, net.ErrClosed) {
		t.Error("ErrClosed does not match net.ErrClosed")
	}
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{MaxFrame: 10})
	err := a.Tx().Send(ctx, make([]byte, 11))
	var tl *framelink.FrameTooLargeError
	if !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tl) || tl.Size != 11 || tl.Max != 10 {
		t.Errorf("Send(11 bytes) with MaxFrame 10 = %v, want *FrameTooLargeError{11, 10}", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Tx().Reserve(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Reserve(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := b.Rx().Recv(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Recv(cancelled) = %v, want context.Canceled", err)
	}
	pm, err := a.Tx().Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pm.Release()
	if err := pm.Release(); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Errorf("second Release = %v, want ErrPermitUsed", err)
	}
	a.Close()
	b.Close()
	for _, l := range []framelink.Link{a, b} {
		if err := closedErr("Send after Close", l.Tx().Send(ctx, nil)); err != nil {
			t.Error(err)
		}
		_, err := l.Rx().Recv(ctx)
		if err := closedErr("Recv after Close", err); err != nil {
			t.Error(err)
		}
	}
}
