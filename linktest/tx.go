package linktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/framelink/framelink"
)

func (s *suite) runTx(t *testing.T) {
	s.run(t, "Tx", func(t *testing.T) {
		s.run(t, "Backpressure", func(t *testing.T) {
			s.runStalled(t, "Bound", s.testBackpressure)
			s.runStalled(t, "SplitBlocked", s.testSplitBlocked)
		})
		s.runStalled(t, "Cancel", s.testCancel)
		s.run(t, "PermitRelease", s.testPermitRelease)
		s.run(t, "PermitDrop", s.testPermitDrop)
		s.run(t, "AllocLimits", s.testAllocLimits)
		s.run(t, "Discard", s.testDiscard)
		s.run(t, "DroppedSlot", s.testDroppedSlot)
		s.run(t, "Commit", s.testCommit)
		s.runStalled(t, "CommitWhileBlocked", s.testCommitWhileBlocked)
		s.run(t, "Misuse", s.testMisuse)
		s.run(t, "Concurrent", s.testConcurrent)
		s.run(t, "Send", s.testSend)
	})
}

// drain receives frames on l until it has seen want[g] frames from every
// sender g, each self-describing and in per-sender order, then one frame
// (end, 0) if end is not zero.
func drain(ctx context.Context, l framelink.Link, want map[uint32]uint32, end uint32) error {
	next := map[uint32]uint32{}
	left := 0
	for _, n := range want {
		left += int(n)
	}
	if end != 0 {
		left++
	}
	for ; left > 0; left-- {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			return fmt.Errorf("Rx.Recv with %d frames still due: %w", left, err)
		}
		g, seq, err := checkFrame(f.Bytes())
		f.Release()
		if err != nil {
			return err
		}
		if g == end && end != 0 {
			if seq != 0 || left != 1 {
				return fmt.Errorf("end frame (%d, %d) arrived with %d frames still due", g, seq, left-1)
			}
			continue
		}
		if seq != next[g] || seq >= want[g] {
			return fmt.Errorf("frame (%d, %d) arrived, want (%d, %d) of %d: lost, duplicated or reordered", g, seq, g, next[g], want[g])
		}
		next[g]++
	}
	return nil
}

// testBackpressure: with the peer not reading, Reserve blocks once the
// bytes queued pass the high-water mark, the queue never exceeds the
// high-water mark plus one frame per sender, and a pending Reserve returns
// once the peer reads again.
// r[verify link.tx.backpressure] r[verify link.tx.reserve]
func (s *suite) testBackpressure(t *testing.T) {
	ctx := s.ctx(t)
	o := framelink.Options{HighWater: testHigh, LowWater: testLow}
	a, b := s.pair(t, o)
	const senders = 4
	var m maxQueued
	counts := make([]uint32, senders)
	errs := make([]<-chan error, senders)
	for g := range senders {
		errs[g] = goErr(func() (err error) {
			counts[g], err = fillUntilBlocked(ctx, a, uint32(g+1), testLow, &m)
			return err
		})
	}
	for g := range senders {
		wait(t, ctx, fmt.Sprintf("sender %d filling the link", g+1), errs[g])
	}
	// A Reserve now waits for the reader; it must return once b reads.
	pending := goErr(func() error {
		return sendSlot(ctx, a, makeFrame(senders+1, 0))
	})
	want := map[uint32]uint32{}
	for g, n := range counts {
		want[uint32(g+1)] = n
	}
	wait(t, ctx, "reading every frame and the one sent by the pending Reserve", goErr(func() error {
		return drain(ctx, b, want, senders+1)
	}))
	wait(t, ctx, "the pending Reserve after the peer read again", pending)
	if bound := int64(testHigh + senders*(maxTestFrame+4)); m.v.Load() > bound {
		t.Errorf("QueuedBytes reached %d, above high-water %d plus one frame per sender (%d)", m.v.Load(), testHigh, bound)
	}
	send(t, ctx, a, []byte("after"))
	expectFrame(t, ctx, b, []byte("after"))
	s.expectDrained(t, ctx, a, b)
}

// expectDrained closes a's sending half, waits for b to see the end of
// stream, and checks that a's queue is empty: no capacity leaked.
func (s *suite) expectDrained(t *testing.T, ctx context.Context, a, b framelink.Link) {
	t.Helper()
	closed := goErr(a.Tx().Close)
	expectEOF(t, ctx, b, 1)
	wait(t, ctx, "Tx.Close", closed)
	if q := a.Stats().QueuedBytes; q != 0 {
		t.Errorf("QueuedBytes is %d after Tx.Close and the peer's io.EOF, want 0: capacity leaked", q)
	}
}

// testCancel: Reserve with a cancelled or expired context returns the
// context's error, whether it had to wait or not, publishes nothing, and
// leaks no capacity.
// r[verify link.tx.cancel]
func (s *suite) testCancel(t *testing.T) {
	ctx := s.ctx(t)
	o := framelink.Options{HighWater: testHigh, LowWater: testLow}
	a, b := s.pair(t, o)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Tx().Reserve(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve(cancelled ctx) on an idle link = %v, want context.Canceled", err)
	}
	if err := a.Tx().Send(cctx, []byte("never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send(cancelled ctx) = %v, want context.Canceled", err)
	}

	var m maxQueued
	n, err := fillUntilBlocked(ctx, a, 1, testLow, &m)
	if err != nil {
		t.Fatal(err)
	}
	// Blocked: cancel while waiting, many times, and let deadlines expire.
	// If the link took more in the meantime (a kernel buffer grew), the
	// permit is used for the next frame and the link filled again.
	usePermit := func(pm framelink.Permit) {
		t.Helper()
		sl, err := pm.Alloc(frameLen(1, n))
		if err != nil {
			t.Fatal(err)
		}
		fillFrame(sl.Bytes(), 1, n)
		if err := sl.Commit(); err != nil {
			t.Fatal(err)
		}
		if n, err = refill(ctx, a, 1, n+1, testLow, &m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		cctx, cancel := context.WithCancel(ctx)
		var pm framelink.Permit
		got := false
		res := goErr(func() error {
			var err error
			pm, err = a.Tx().Reserve(cctx)
			got = err == nil
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("Tx.Reserve cancelled while blocked = %v, want context.Canceled", err)
			}
			return nil
		})
		cancel()
		wait(t, ctx, fmt.Sprintf("cancelled Reserve #%d", i), res)
		if got {
			usePermit(pm)
		}
	}
	for {
		dctx, dcancel := context.WithTimeout(ctx, probe)
		pm, err := a.Tx().Reserve(dctx)
		dcancel()
		if err == nil {
			usePermit(pm)
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reserve with an expiring ctx on a blocked link = %v, want context.DeadlineExceeded", err)
		}
		break
	}
	if err := drain(ctx, b, map[uint32]uint32{1: n}, 0); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, a, []byte("after"))
	expectFrame(t, ctx, b, []byte("after"))
	s.expectDrained(t, ctx, a, b)
}

// testPermitRelease: a released permit publishes nothing and cannot be
// used again.
// r[verify link.tx.permit.release]
func (s *suite) testPermitRelease(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: 1024, LowWater: 512})
	for range 1000 {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := pm.Release(); err != nil {
			t.Fatalf("Release of a fresh permit: %v", err)
		}
		if err := pm.Release(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("second Release = %v, want ErrPermitUsed", err)
		}
		if _, err := pm.Alloc(1); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("Alloc after Release = %v, want ErrPermitUsed", err)
		}
	}
	send(t, ctx, a, []byte("first"))
	expectFrame(t, ctx, b, []byte("first"))
	s.expectDrained(t, ctx, a, b)
}

// testPermitDrop: permits dropped without Alloc or Release do not stall
// the link, even with a tiny budget.
// r[verify link.tx.permit.release]
func (s *suite) testPermitDrop(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: 1024, LowWater: 512})
	for i := range 10000 {
		if _, err := a.Tx().Reserve(ctx); err != nil {
			t.Fatalf("Reserve #%d after dropping the previous permits: %v", i, err)
		}
	}
	done := goErr(func() error {
		for i := range 100 {
			if err := a.Tx().Send(ctx, pattern(100, byte(i))); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range 100 {
		expectFrame(t, ctx, b, pattern(100, byte(i)))
	}
	wait(t, ctx, "sending after dropped permits", done)
	s.expectDrained(t, ctx, a, b)
}

// testAllocLimits: Alloc above MaxFrame is ErrFrameTooLarge (with both
// sizes), negative is ErrNegativeSize, both consume the permit and publish
// nothing; exactly MaxFrame works.
// r[verify link.tx.alloc.limits] r[verify link.errors]
func (s *suite) testAllocLimits(t *testing.T) {
	ctx := s.ctx(t)
	const max = 100
	a, b := s.pair(t, framelink.Options{MaxFrame: max})
	for _, n := range []int{max + 1, max + 1000, math.MaxInt} {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pm.Alloc(n)
		var tl *framelink.FrameTooLargeError
		if !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tl) {
			t.Fatalf("Alloc(%d) with MaxFrame %d = %v, want a *FrameTooLargeError", n, max, err)
		}
		if tl.Size != uint64(n) || tl.Max != max {
			t.Errorf("Alloc(%d): FrameTooLargeError{Size: %d, Max: %d}, want {%d, %d}", n, tl.Size, tl.Max, n, max)
		}
		if _, err := pm.Alloc(1); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("Alloc after a failed Alloc = %v, want ErrPermitUsed (the permit is consumed)", err)
		}
	}
	for _, n := range []int{-1, math.MinInt} {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pm.Alloc(n); !errors.Is(err, framelink.ErrNegativeSize) {
			t.Fatalf("Alloc(%d) = %v, want ErrNegativeSize", n, err)
		}
	}
	full := pattern(max, 9)
	if err := sendSlot(ctx, a, full); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, a, nil)
	expectFrame(t, ctx, b, full)
	expectFrame(t, ctx, b, nil)
	if st := a.Stats(); st.FramesOut != 2 || st.BytesOut != max {
		t.Errorf("after 2 frames and refused Allocs: FramesOut %d, BytesOut %d, want 2, %d", st.FramesOut, st.BytesOut, max)
	}
}

// testDiscard: a discarded slot publishes nothing, returns its capacity
// (thousands of discards on a tiny budget do not stall the link) and
// cannot be committed or discarded again.
// r[verify link.tx.discard] r[verify link.tx.misuse]
func (s *suite) testDiscard(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: 1024, LowWater: 512})
	for i := range 2000 {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatalf("Reserve after %d discards: %v", i, err)
		}
		sl, err := pm.Alloc(600)
		if err != nil {
			t.Fatal(err)
		}
		copy(sl.Bytes(), "discarded")
		if err := sl.Discard(); err != nil {
			t.Fatalf("Discard: %v", err)
		}
		if err := sl.Discard(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("second Discard = %v, want ErrPermitUsed", err)
		}
		if err := sl.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("Commit after Discard = %v, want ErrPermitUsed", err)
		}
	}
	if q := a.Stats().QueuedBytes; q != 0 {
		t.Errorf("QueuedBytes %d after only discarded slots, want 0", q)
	}
	send(t, ctx, a, []byte("kept"))
	expectFrame(t, ctx, b, []byte("kept"))
	if st := a.Stats(); st.FramesOut != 1 || st.BytesOut != 4 {
		t.Errorf("FramesOut %d BytesOut %d after discards and one frame, want 1 and 4", st.FramesOut, st.BytesOut)
	}
	s.expectDrained(t, ctx, a, b)
}

// testDroppedSlot: a slot dropped without Commit or Discard is a caller
// bug that may stall the link, but its bytes are never published: if the
// frames sent after it arrive at all, they arrive unchanged and alone.
// r[verify link.tx.discard]
func (s *suite) testDroppedSlot(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	for i := range 3 {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sl, err := pm.Alloc(100 + i)
		if err != nil {
			t.Fatal(err)
		}
		copy(sl.Bytes(), "dropped slot bytes")
		// sl is dropped here, on purpose.
	}
	after := goErr(func() error { return a.Tx().Send(ctx, []byte("after the dropped slots")) })
	// The link may stall (allowed): give it a while, then stop looking.
	wctx, cancel := context.WithTimeout(ctx, 25*probe)
	defer cancel()
	f, err := b.Rx().Recv(wctx)
	if err != nil {
		if wctx.Err() == nil {
			t.Fatalf("Recv after dropped slots: %v", err)
		}
		t.Logf("the link stalled after dropped slots (allowed by r[link.tx.discard]): %v", err)
		a.Close()
		<-after
		return
	}
	got := string(f.Bytes())
	f.Release()
	if got != "after the dropped slots" {
		t.Fatalf("after dropped slots the peer received %q, want only the frame sent after them", got)
	}
	wait(t, ctx, "Send after the dropped slots", after)
}

// testCommit: the slot is exactly n bytes; Commit publishes its bytes as
// they are at Commit, once.
// r[verify link.tx.commit] r[verify link.tx.reserve]
func (s *suite) testCommit(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	var want [][]byte
	for _, n := range []int{0, 1, 4, 100, 5000, 70000} {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sl, err := pm.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		if sl.Len() != n || len(sl.Bytes()) != n {
			t.Fatalf("Alloc(%d): slot of %d bytes (Len %d)", n, len(sl.Bytes()), sl.Len())
		}
		copy(sl.Bytes(), pattern(n, 1))
		final := pattern(n, 2) // overwrite: the bytes at Commit count
		copy(sl.Bytes(), final)
		if err := sl.Commit(); err != nil {
			t.Fatal(err)
		}
		want = append(want, final)
	}
	for _, w := range want {
		expectFrame(t, ctx, b, w)
	}
	s.expectDrained(t, ctx, a, b)
}

// testCommitWhileBlocked: Commit does not wait for the network: with the
// peer not reading and Reserve blocked, a slot allocated from a permit
// taken earlier still commits at once.
// r[verify link.tx.commit]
func (s *suite) testCommitWhileBlocked(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: testHigh, LowWater: testLow})
	early, err := a.Tx().Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m maxQueued
	n, err := fillUntilBlocked(ctx, a, 1, testLow, &m)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, "Alloc and Commit while the peer is not reading", goErr(func() error {
		sl, err := early.Alloc(frameLen(2, 0))
		if err != nil {
			return err
		}
		fillFrame(sl.Bytes(), 2, 0)
		return sl.Commit()
	}))
	if err := drain(ctx, b, map[uint32]uint32{1: n}, 2); err != nil {
		t.Fatal(err)
	}
}

// testMisuse: every second use of a permit or slot, and every use of a
// stale copy after its state was recycled, returns ErrPermitUsed and
// leaves the stream intact.
// r[verify link.tx.misuse]
func (s *suite) testMisuse(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	tx := a.Tx()
	used := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("%s = %v, want ErrPermitUsed", what, err)
		}
	}
	reserve := func() framelink.Permit {
		t.Helper()
		pm, err := tx.Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pm
	}
	alloc := func(pm framelink.Permit, p string) framelink.Slot {
		t.Helper()
		sl, err := pm.Alloc(len(p))
		if err != nil {
			t.Fatal(err)
		}
		copy(sl.Bytes(), p)
		return sl
	}
	var zp framelink.Permit
	var zs framelink.Slot
	_, err := zp.Alloc(1)
	used("zero Permit Alloc", err)
	used("zero Permit Release", zp.Release())
	used("zero Slot Commit", zs.Commit())
	used("zero Slot Discard", zs.Discard())

	// Alloc twice; Commit twice; Discard after Commit; Release after Alloc.
	p1 := reserve()
	s1 := alloc(p1, "one")
	_, err = p1.Alloc(3)
	used("second Alloc", err)
	used("Release after Alloc", p1.Release())
	if err := s1.Commit(); err != nil {
		t.Fatal(err)
	}
	used("second Commit", s1.Commit())
	used("Discard after Commit", s1.Discard())

	// Commit after Discard.
	s2 := alloc(reserve(), "discarded")
	if err := s2.Discard(); err != nil {
		t.Fatal(err)
	}
	used("Commit after Discard", s2.Commit())

	// Stale copies, while the state behind them serves newer permits.
	for i := range 100 {
		old := reserve()
		if err := old.Release(); err != nil {
			t.Fatal(err)
		}
		fresh := reserve()
		_, err := old.Alloc(1)
		used("Alloc on a released permit's copy", err)
		used("Release on a released permit's copy", old.Release())
		sOld := alloc(fresh, fmt.Sprint("fresh", i))
		oldSlot := sOld
		if err := sOld.Commit(); err != nil {
			t.Fatal(err)
		}
		newer := alloc(reserve(), fmt.Sprint("newer", i))
		used("Commit on a committed slot's copy", oldSlot.Commit())
		used("Discard on a committed slot's copy", oldSlot.Discard())
		if err := newer.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	// Concurrent double use: exactly one of two Commits wins.
	for i := range 100 {
		sl := alloc(reserve(), fmt.Sprint("race", i))
		c1, c2 := goErr(sl.Commit), goErr(sl.Commit)
		e1, e2 := <-c1, <-c2
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("two concurrent Commits of one slot returned %v and %v, want exactly one nil and one ErrPermitUsed", e1, e2)
		}
		if e := errors.Join(e1, e2); !errors.Is(e, framelink.ErrPermitUsed) {
			t.Fatalf("losing concurrent Commit: %v, want ErrPermitUsed", e)
		}
	}

	want := []string{"one"}
	for i := range 100 {
		want = append(want, fmt.Sprint("fresh", i), fmt.Sprint("newer", i))
	}
	for i := range 100 {
		want = append(want, fmt.Sprint("race", i))
	}
	for _, w := range want {
		expectFrame(t, ctx, b, []byte(w))
	}
	closed := goErr(a.Tx().Close)
	expectEOF(t, ctx, b, 1)
	wait(t, ctx, "Tx.Close", closed)
}

// testConcurrent: many goroutines commit many self-describing frames at
// once, through both send paths; every frame arrives whole, none
// interleaved, each sender's in its order.
// r[verify link.tx.concurrent] r[verify link.order]
func (s *suite) testConcurrent(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{HighWater: 256 << 10, LowWater: 64 << 10})
	const senders, frames = 16, 300
	var errs []<-chan error
	for g := uint32(1); g <= senders; g++ {
		errs = append(errs, goErr(func() error { return sendFrames(ctx, a, g, frames) }))
	}
	want := map[uint32]uint32{}
	for g := uint32(1); g <= senders; g++ {
		want[g] = frames
	}
	if err := drain(ctx, b, want, 0); err != nil {
		t.Fatal(err)
	}
	for i, c := range errs {
		wait(t, ctx, fmt.Sprintf("sender %d", i+1), c)
	}
	s.expectDrained(t, ctx, a, b)
}

// testSend: Send is one frame with p's bytes, does not retain p, and
// fails cleanly (publishing nothing) on a cancelled context or an
// oversize p.
// r[verify link.tx.send]
func (s *suite) testSend(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{MaxFrame: 1 << 16})
	p := pattern(1000, 7)
	orig := append([]byte{}, p...)
	send(t, ctx, a, p)
	for i := range p {
		p[i] = 0xFF // p is the caller's again
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Tx().Send(cctx, []byte("cancelled")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send(cancelled ctx) = %v, want context.Canceled", err)
	}
	if err := a.Tx().Send(ctx, make([]byte, 1<<16+1)); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("Send(MaxFrame+1 bytes) = %v, want ErrFrameTooLarge", err)
	}
	send(t, ctx, a, []byte("next"))
	expectFrame(t, ctx, b, orig)
	expectFrame(t, ctx, b, []byte("next"))
	s.expectDrained(t, ctx, a, b)
}
