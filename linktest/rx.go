package linktest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/framelink/framelink"
)

func (s *suite) runRx(t *testing.T) {
	s.run(t, "Rx", func(t *testing.T) {
		s.run(t, "Hold", s.testHold)
		s.run(t, "Cancel", s.testRecvCancel)
		s.run(t, "EOF", s.testRecvEOF)
	})
}

// testHold: frames held unreleased keep their bytes while many more
// frames are received and released (their buffers recycled), and also
// while held frames pile up.
// r[verify link.rx.recv]
func (s *suite) testHold(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	const held, churn = 32, 3000
	done := goErr(func() error { return sendFrames(ctx, a, 3, held+churn) })
	var frames []framelink.Frame
	for range held {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	for seq := uint32(held); seq < held+churn; seq++ {
		g, got, err := checkFrame(recv(t, ctx, b))
		if err != nil {
			t.Fatal(err)
		}
		if g != 3 || got != seq {
			t.Fatalf("got frame (%d, %d), want (3, %d)", g, got, seq)
		}
	}
	for i, f := range frames {
		g, seq, err := checkFrame(f.Bytes())
		if err != nil {
			t.Fatalf("held frame #%d changed before Release: %v", i, err)
		}
		if g != 3 || seq != uint32(i) {
			t.Fatalf("held frame #%d is now (%d, %d), want (3, %d): changed before Release", i, g, seq, i)
		}
		f.Release()
	}
	wait(t, ctx, "sending", done)
}

// testRecvCancel: Recv honours its context and loses no frame: receives
// whose context expires or is cancelled, racing with arriving frames,
// never eat one.
// r[verify link.rx.recv] r[verify link.errors]
func (s *suite) testRecvCancel(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Rx().Recv(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv(cancelled ctx) with nothing to receive = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, probe)
	_, err := b.Rx().Recv(dctx)
	dcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv(expiring ctx) with nothing to receive = %v, want context.DeadlineExceeded", err)
	}
	cctx, cancel = context.WithCancel(ctx)
	pending := goErr(func() error {
		_, err := b.Rx().Recv(cctx)
		if !errors.Is(err, context.Canceled) {
			return fmt.Errorf("Rx.Recv cancelled while waiting = %v, want context.Canceled", err)
		}
		return nil
	})
	cancel()
	wait(t, ctx, "cancelled Recv", pending)

	const n = 2000
	done := goErr(func() error { return sendFrames(ctx, a, 4, n) })
	var seq uint32
	for i := 0; seq < n; i++ {
		var rctx context.Context = ctx
		var cancel context.CancelFunc = func() {}
		switch i % 3 {
		case 0:
			rctx, cancel = context.WithCancel(ctx)
			cancel() // already cancelled: either the frame or ctx's error
		case 1:
			rctx, cancel = context.WithCancel(ctx)
			go cancel() // cancelled at some point while receiving
		}
		f, err := b.Rx().Recv(rctx)
		cancel()
		if err != nil {
			if i%3 == 2 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Recv #%d: %v", i, err)
			}
			continue
		}
		g, got, err := checkFrame(f.Bytes())
		f.Release()
		if err != nil {
			t.Fatal(err)
		}
		if g != 4 || got != seq {
			t.Fatalf("got frame (%d, %d), want (4, %d): a cancelled Recv lost a frame", g, got, seq)
		}
		seq++
	}
	wait(t, ctx, "sending", done)
}

// testRecvEOF: after the peer's graceful close Recv returns io.EOF, and
// keeps returning it.
// r[verify link.rx.eof]
func (s *suite) testRecvEOF(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	closed := goErr(a.Tx().Close)
	expectEOF(t, ctx, b, 5)
	wait(t, ctx, "Tx.Close", closed)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Rx().Recv(cctx); err == nil {
		t.Fatal("Recv after io.EOF with a cancelled ctx returned a frame")
	}
	expectEOF(t, ctx, b, 1)
}
