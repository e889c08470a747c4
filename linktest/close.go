package linktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

func (s *suite) runClose(t *testing.T) {
	s.run(t, "TxClose", func(t *testing.T) {
		s.run(t, "Graceful", s.testTxCloseGraceful)
		s.runStalled(t, "PendingReserve", s.testTxClosePending)
		s.run(t, "HalfClose", s.testHalfClose)
	})
	s.run(t, "Close", func(t *testing.T) {
		s.runStalled(t, "Pending", s.testClosePending)
		s.run(t, "Idle", s.testCloseIdle)
		s.run(t, "Concurrent", s.testCloseConcurrent)
	})
}

// closedErr checks that err is ErrClosed (and so net.ErrClosed).
func closedErr(what string, err error) error {
	if !errors.Is(err, framelink.ErrClosed) || !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s = %v, want framelink.ErrClosed (matching net.ErrClosed)", what, err)
	}
	return nil
}

// idempotent checks a repeated Close's result: nil, or ErrClosed.
func idempotent(what string, err error) error {
	if err != nil && !errors.Is(err, framelink.ErrClosed) {
		return fmt.Errorf("repeated %s = %v, want nil or ErrClosed", what, err)
	}
	return nil
}

// expectTxClosed checks that Reserve and Send on l return ErrClosed after
// the call named by after.
func expectTxClosed(t *testing.T, ctx context.Context, l framelink.Link, after string) {
	t.Helper()
	_, err := l.Tx().Reserve(ctx)
	if err := closedErr("Reserve after "+after, err); err != nil {
		t.Error(err)
	}
	if err := closedErr("Send after "+after, l.Tx().Send(ctx, []byte("late"))); err != nil {
		t.Error(err)
	}
}

// testTxCloseGraceful: every frame committed before Tx.Close arrives,
// then io.EOF; Reserve and Send after Close return ErrClosed.
// r[verify link.tx.close] r[verify link.rx.eof]
func (s *suite) testTxCloseGraceful(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: testHigh, LowWater: testLow})
	const n = 2000
	done := goErr(func() error {
		if err := sendFrames(ctx, a, 5, n); err != nil {
			return err
		}
		// Frames still queued (the peer reads concurrently): Close must
		// flush them before the end of stream.
		return a.Tx().Close()
	})
	if err := drain(ctx, b, map[uint32]uint32{5: n}, 0); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, ctx, b, 3)
	wait(t, ctx, "sending then Tx.Close", done)
	if err := idempotent("Tx.Close", a.Tx().Close()); err != nil {
		t.Error(err)
	}
	expectTxClosed(t, ctx, a, "Tx.Close")
	expectEOF(t, ctx, b, 1)
}

// testTxClosePending: a Reserve blocked by backpressure returns ErrClosed
// when Tx.Close is called, and the frames committed before still arrive.
// r[verify link.tx.close] r[verify link.tx.backpressure]
func (s *suite) testTxClosePending(t *testing.T) {
	ctx := s.ctx(t)
	a, b, n := s.blocked(t, ctx, 6)
	var extra uint32
	pending := goErr(func() (err error) {
		extra, err = reserveUntilErr(ctx, a, 7)
		return closedErr("Reserve pending during Tx.Close", err)
	})
	closed := goErr(a.Tx().Close) // may wait for the peer to read
	wait(t, ctx, "the pending Reserve", pending)
	if err := drain(ctx, b, map[uint32]uint32{6: n, 7: extra}, 0); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, ctx, b, 2)
	wait(t, ctx, "Tx.Close", closed)
}

// testHalfClose: after a's Tx.Close, b still sends to a.
// r[verify link.tx.close] r[verify link.split]
func (s *suite) testHalfClose(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	send(t, ctx, a, []byte("last"))
	closed := goErr(a.Tx().Close)
	expectFrame(t, ctx, b, []byte("last"))
	expectEOF(t, ctx, b, 1)
	wait(t, ctx, "Tx.Close", closed)
	done := goErr(func() error {
		for i := range 100 {
			if err := b.Tx().Send(ctx, pattern(i*100, byte(i))); err != nil {
				return fmt.Errorf("b.Send #%d after a's Tx.Close: %w", i, err)
			}
		}
		return b.Tx().Close()
	})
	for i := range 100 {
		expectFrame(t, ctx, a, pattern(i*100, byte(i)))
	}
	expectEOF(t, ctx, a, 2)
	wait(t, ctx, "b sending", done)
}

// testClosePending: Link.Close makes a Reserve blocked by backpressure
// and a Recv waiting for a frame return ErrClosed; Reserve, Send and Recv
// after Close return ErrClosed; the peer's Recv ends with an error after
// at most the frames committed before Close, never a corrupt frame.
// r[verify link.close] r[verify link.errors]
func (s *suite) testClosePending(t *testing.T) {
	ctx := s.ctx(t)
	a, b, n := s.blocked(t, ctx, 8)
	var extra uint32
	reserve := goErr(func() (err error) {
		extra, err = reserveUntilErr(ctx, a, 9)
		return closedErr("Reserve pending during Close", err)
	})
	recvd := goErr(func() error {
		f, err := a.Rx().Recv(ctx)
		if err == nil {
			f.Release()
		}
		return closedErr("Recv pending during Close", err)
	})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wait(t, ctx, "pending Reserve", reserve)
	wait(t, ctx, "pending Recv", recvd)
	if err := idempotent("Close", a.Close()); err != nil {
		t.Error(err)
	}
	expectTxClosed(t, ctx, a, "Close")
	_, err := a.Rx().Recv(ctx)
	if err := closedErr("Recv after Close", err); err != nil {
		t.Error(err)
	}
	if err := idempotent("Tx.Close after Close", a.Tx().Close()); err != nil {
		t.Error(err)
	}
	s.expectPeerEnd(t, ctx, b, map[uint32]uint32{8: n, 9: extra})
}

// reserveUntilErr is a Reserve pending on a blocked link: should the link
// take more before the close under test (a kernel buffer grew), it commits
// frames (g, 0), (g, 1), ... until Reserve or Commit fails, and returns
// how many it committed and the error.
func reserveUntilErr(ctx context.Context, l framelink.Link, g uint32) (uint32, error) {
	for seq := uint32(0); ; seq++ {
		pm, err := l.Tx().Reserve(ctx)
		if err != nil {
			return seq, err
		}
		sl, err := pm.Alloc(frameLen(g, seq))
		if err != nil {
			return seq, err
		}
		fillFrame(sl.Bytes(), g, seq)
		if err := sl.Commit(); err != nil {
			return seq, err
		}
	}
}

// expectPeerEnd receives on b, after its peer was closed, frames (g, 0),
// (g, 1), ... up to max[g] of them for each g, then an error; later Recvs
// also fail.
func (s *suite) expectPeerEnd(t *testing.T, ctx context.Context, b framelink.Link, max map[uint32]uint32) {
	t.Helper()
	next := map[uint32]uint32{}
	recvToEnd(t, ctx, b, func(fg, fs uint32) {
		if fs != next[fg] || fs >= max[fg] {
			t.Fatalf("the peer of a closed link got frame (%d, %d), want (%d, %d) of %d", fg, fs, fg, next[fg], max[fg])
		}
		next[fg]++
	})
	for range 3 {
		if f, err := b.Rx().Recv(ctx); err == nil {
			t.Fatalf("Recv after the end returned a frame of %d bytes", f.Len())
		}
	}
}

// recvToEnd receives on b, the peer of a closed link, until Recv fails,
// passing each frame's (g, seq) to each (if not nil). It fails t on a
// corrupt frame, or when b's Recv got no error before ctx ended.
func recvToEnd(t *testing.T, ctx context.Context, b framelink.Link, each func(g, seq uint32)) {
	t.Helper()
	for {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the peer of a closed link got no error: %v", err)
			}
			return
		}
		g, seq, cerr := checkFrame(f.Bytes())
		f.Release()
		if cerr != nil {
			t.Fatalf("the peer of a closed link got a corrupt frame: %v", cerr)
		}
		if each != nil {
			each(g, seq)
		}
	}
}

// testCloseIdle: Close on an idle link ends the peer's Recv, and Close is
// idempotent on both ends.
// r[verify link.close]
func (s *suite) testCloseIdle(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	send(t, ctx, a, []byte("hello"))
	expectFrame(t, ctx, b, []byte("hello"))
	peer := goErr(func() error {
		f, err := b.Rx().Recv(ctx)
		if err == nil {
			f.Release()
			return fmt.Errorf("the peer of a closed link got a frame of %d bytes", f.Len())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the peer of a closed link got no error: %w", err)
		}
		return nil
	})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wait(t, ctx, "the peer's Recv", peer)
	if err := b.Close(); err != nil {
		t.Fatalf("Close of the peer: %v", err)
	}
	for _, l := range []framelink.Link{a, b} {
		if err := idempotent("Close", l.Close()); err != nil {
			t.Error(err)
		}
	}
}

// testCloseConcurrent: Close from several goroutines at once, while
// others send and receive, returns without deadlock and leaves every call
// failing with an error (ErrClosed on the closed link).
// r[verify link.close]
func (s *suite) testCloseConcurrent(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: testHigh, LowWater: testLow})
	send(t, ctx, a, []byte("warm"))
	expectFrame(t, ctx, b, []byte("warm"))
	var users []<-chan error
	for g := range uint32(4) {
		users = append(users, goErr(func() error {
			for seq := uint32(0); ; seq++ {
				if err := a.Tx().Send(ctx, makeFrame(g, seq)); err != nil {
					if errors.Is(err, framelink.ErrClosed) {
						return nil
					}
					return fmt.Errorf("Tx.Send during Close: %v, want ErrClosed", err)
				}
			}
		}))
	}
	users = append(users, goErr(func() error {
		for {
			f, err := a.Rx().Recv(ctx)
			if err != nil {
				return closedErr("Recv during Close", err)
			}
			f.Release()
		}
	}))
	var closers []<-chan error
	for range 4 {
		closers = append(closers, goErr(func() error { return idempotent("Close", a.Close()) }))
	}
	for _, c := range closers {
		wait(t, ctx, "Close", c)
	}
	for _, c := range users {
		wait(t, ctx, "a user of the link", c)
	}
	// b may get frames before its end; they must be whole.
	recvToEnd(t, ctx, b, nil)
}
