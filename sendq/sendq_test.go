package sendq

import (
	"context"
	"errors"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

func newTx(max uint32, high, low int) (*Tx, *Queue, *Budget, *framelink.Counters) {
	b := NewBudget(high, low)
	q := NewQueue(b)
	c := new(framelink.Counters)
	return NewTx(q, b, c, max, nil), q, b, c
}

// r[verify link.tx.backpressure]
func TestBudgetHysteresis(t *testing.T) {
	b := NewBudget(100, 40)
	if b.Add(100) || b.Over() {
		t.Fatal("at the high-water mark is not over it")
	}
	if !b.Add(1) || !b.Over() {
		t.Fatal("101 > 100 must be over")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait while over with a cancelled ctx: %v", err)
	}
	if b.Sub(50) || !b.Over() { // 51: still above low water
		t.Fatal("51 is not under the low-water mark")
	}
	done := make(chan error)
	go func() { done <- b.Wait(context.Background()) }()
	if !b.Sub(12) { // 39 < 40
		t.Fatal("39 must clear the budget")
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	b.Add(1000)
	go func() { done <- b.Wait(context.Background()) }()
	b.Close(framelink.ErrClosed)
	if err := <-done; !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Close must wake waiters with its error: %v", err)
	}
}

// r[verify link.tx.misuse] r[verify link.tx.permit.release] r[verify link.tx.discard] r[verify link.tx.alloc.limits]
func TestPermitStateMachine(t *testing.T) {
	tx, q, b, c := newTx(10, 1<<20, 1<<10)
	ctx := context.Background()

	p, _ := tx.Reserve(ctx)
	s, err := p.Alloc(3)
	if err != nil || len(s.Bytes()) != 3 {
		t.Fatalf("Alloc: %v", err)
	}
	if _, err := p.Alloc(3); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Alloc twice: %v", err)
	}
	if err := p.Release(); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Release after Alloc: %v", err)
	}
	copy(s.Bytes(), "abc")
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Commit twice: %v", err)
	}
	if err := s.Discard(); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Discard after Commit: %v", err)
	}

	p2, _ := tx.Reserve(ctx)
	s2, _ := p2.Alloc(5)
	if err := s2.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Commit after Discard: %v", err)
	}
	p3, _ := tx.Reserve(ctx)
	if err := p3.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := p3.Alloc(1); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("Alloc after Release: %v", err)
	}
	p4, _ := tx.Reserve(ctx)
	if _, err := p4.Alloc(11); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("Alloc above max: %v", err)
	}
	p5, _ := tx.Reserve(ctx)
	if _, err := p5.Alloc(-1); !errors.Is(err, framelink.ErrNegativeSize) {
		t.Fatalf("Alloc(-1): %v", err)
	}
	var zero framelink.Permit
	if _, err := zero.Alloc(1); !errors.Is(err, framelink.ErrPermitUsed) {
		t.Fatalf("zero Permit: %v", err)
	}

	// Exactly one frame was published, byte-exact, and counted.
	frames, _ := q.Take(nil)
	if len(frames) != 1 || string(frames[0]) != "\x03\x00\x00\x00abc" {
		t.Fatalf("published %q", frames)
	}
	if got := b.Queued(); got != 7 {
		t.Fatalf("queued %d bytes, want 7", got)
	}
	q.Done(frames)
	if b.Queued() != 0 {
		t.Fatal("Done did not return the budget")
	}
	if s := c.Snapshot(); s.FramesOut != 1 || s.BytesOut != 3 {
		t.Fatalf("counters %+v", s)
	}
}

// A stale handle must not act on a recycled state object.
func TestStaleHandleAfterRecycle(t *testing.T) {
	tx, q, _, _ := newTx(100, 1<<20, 1<<10)
	ctx := context.Background()
	p, _ := tx.Reserve(ctx)
	s, _ := p.Alloc(1)
	s.Bytes()[0] = 'a'
	_ = s.Commit()
	for range 10 { // the state object is reused by later permits
		p2, _ := tx.Reserve(ctx)
		s2, _ := p2.Alloc(1)
		s2.Bytes()[0] = 'b'
		if err := s.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("stale Commit: %v", err)
		}
		if err := s.Discard(); !errors.Is(err, framelink.ErrPermitUsed) {
			t.Fatalf("stale Discard: %v", err)
		}
		_ = s2.Commit()
	}
	frames, _ := q.Take(nil)
	if len(frames) != 11 {
		t.Fatalf("%d frames published, want 11", len(frames))
	}
}

// r[verify link.tx.close] r[verify link.tx.cancel]
func TestCloseAndCancel(t *testing.T) {
	tx, q, b, _ := newTx(100, 10, 5)
	ctx := context.Background()
	if err := tx.Send(ctx, make([]byte, 20)); err != nil { // over high water now
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tx.Reserve(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve with cancelled ctx: %v", err)
	}
	errc := make(chan error)
	go func() { _, err := tx.Reserve(ctx); errc <- err }()
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, framelink.ErrClosed) || !errors.Is(err, errors.Unwrap(framelink.ErrClosed)) {
		t.Fatalf("blocked Reserve after Close: %v", err)
	}
	if _, err := tx.Reserve(ctx); !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Reserve after Close: %v", err)
	}
	frames, _ := q.Take(nil)
	if len(frames) != 1 || b.Queued() != 24 {
		t.Fatalf("frames %d queued %d", len(frames), b.Queued())
	}
}

// r[verify perf.alloc]
func TestSteadyStateZeroAlloc(t *testing.T) {
	if pool.Debug {
		t.Skip("debug pool records buffers")
	}
	tx, q, _, _ := newTx(1<<20, 1<<20, 1<<10)
	ctx := context.Background()
	var batch [][]byte
	run := func() {
		p, _ := tx.Reserve(ctx)
		s, _ := p.Alloc(64)
		_ = s.Commit()
		batch, _ = q.Take(batch[:0])
		q.Done(batch)
	}
	run()
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("reserve/alloc/commit/take/done allocates %.1f per frame", a)
	}
}

func BenchmarkReserveAllocCommit(b *testing.B) {
	tx, q, _, _ := newTx(1<<20, 1<<30, 1<<20)
	ctx := context.Background()
	var batch [][]byte
	b.ReportAllocs()
	b.SetBytes(64)
	for i := 0; b.Loop(); i++ {
		p, _ := tx.Reserve(ctx)
		s, _ := p.Alloc(64)
		s.Bytes()[0] = byte(i)
		_ = s.Commit()
		if i%64 == 63 {
			batch, _ = q.Take(batch[:0])
			q.Done(batch)
		}
	}
}
