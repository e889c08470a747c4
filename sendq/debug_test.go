//go:build framelinkdebug

package sendq

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// allocAndDrop allocates a slot and drops it without Commit or Discard.
//
//go:noinline
func allocAndDrop(tx *Tx) {
	p, _ := tx.Reserve(context.Background())
	s, _ := p.Alloc(10)
	s.Bytes()[0] = 1
}

// r[verify link.tx.discard] r[verify pool.debug]
func TestDebugReportsDroppedSlot(t *testing.T) {
	got := make(chan string, 4)
	old := DroppedSlot
	DroppedSlot = func(stack string) { got <- stack }
	defer func() { DroppedSlot = old }()

	tx, q, _, _ := newTx(100, 1<<20, 1<<10)
	// A committed slot is not reported.
	if err := tx.Send(context.Background(), []byte("ok")); err != nil {
		t.Fatal(err)
	}
	allocAndDrop(tx)
	for range 100 {
		runtime.GC()
		select {
		case stack := <-got:
			if !strings.Contains(stack, "allocAndDrop") {
				t.Fatalf("report does not name the allocation site:%s", stack)
			}
			if frames, _ := q.Take(nil); len(frames) != 1 {
				t.Fatalf("%d frames published, want only the committed one", len(frames))
			}
			return
		default:
			runtime.Gosched()
		}
	}
	t.Fatal("a dropped slot was never reported")
}
