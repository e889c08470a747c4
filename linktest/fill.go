package linktest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// Small water marks for the backpressure subtests: a few dozen frames
// cross them, so engines with kernel buffers block once those are full.
const (
	testHigh = 64 << 10
	testLow  = 16 << 10
	// fillLimit bounds what a sender commits while looking for the point
	// where Reserve blocks: far above loopback socket buffers.
	fillLimit = 64 << 20
	// maxTestFrame is the largest frame frameLen returns.
	maxTestFrame = tagSize + 8191
)

// probe is how long a Reserve may wait before the suite suspects it is
// blocked. It is not a performance assertion: a probe that expires is
// only taken as blocking when the link's QueuedBytes confirm that the
// budget is over (at least the low-water mark), and a spurious expiry just
// makes the sender try again.
const probe = 20 * time.Millisecond

// maxQueued records the largest QueuedBytes seen.
type maxQueued struct{ v atomic.Int64 }

func (m *maxQueued) see(l framelink.Link) {
	q := l.Stats().QueuedBytes
	for {
		old := m.v.Load()
		if q <= old || m.v.CompareAndSwap(old, q) {
			return
		}
	}
}

// fillUntilBlocked commits self-describing frames (g, 0), (g, 1), ... on l
// while nobody reads the peer, until Reserve blocks (r[link.tx.backpressure]).
// It returns how many frames it committed. low is the link's low-water
// mark. Every QueuedBytes seen after a commit goes into m.
func fillUntilBlocked(ctx context.Context, l framelink.Link, g uint32, low int, m *maxQueued) (uint32, error) {
	return refill(ctx, l, g, 0, low, m)
}

// blocked makes a pair with the small test water marks and fills a with
// frames (g, 0) ... (g, n-1) until its Reserve blocks, b not reading.
func (s *suite) blocked(t *testing.T, ctx context.Context, g uint32) (a, b framelink.Link, n uint32) {
	t.Helper()
	a, b = s.pair(t, framelink.Options{HighWater: testHigh, LowWater: testLow})
	var m maxQueued
	n, err := fillUntilBlocked(ctx, a, g, testLow, &m)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, n
}

// refill is fillUntilBlocked starting at frame (g, seq); it returns the
// next sequence number. Callers use it again when a link that was blocked
// took more (a kernel buffer grew, a writer was late to block).
func refill(ctx context.Context, l framelink.Link, g, seq uint32, low int, m *maxQueued) (uint32, error) {
	total := 0
	for total < fillLimit {
		pctx, cancel := context.WithTimeout(ctx, probe)
		pm, err := l.Tx().Reserve(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return seq, fmt.Errorf("Tx.Reserve never blocked after %d frames (%d bytes), QueuedBytes %d: %w", seq, total, l.Stats().QueuedBytes, ctx.Err())
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return seq, fmt.Errorf("Tx.Reserve after %d frames: %v, want a permit or the probe's context.DeadlineExceeded", seq, err)
			}
			if l.Stats().QueuedBytes >= int64(low) {
				return seq, nil // blocked, and the budget says why
			}
			continue
		}
		s, err := pm.Alloc(frameLen(g, seq))
		if err != nil {
			return seq, fmt.Errorf("Permit.Alloc: %w", err)
		}
		fillFrame(s.Bytes(), g, seq)
		if err := s.Commit(); err != nil {
			return seq, fmt.Errorf("Slot.Commit: %w", err)
		}
		m.see(l)
		total += frameLen(g, seq)
		seq++
	}
	return seq, fmt.Errorf("Tx.Reserve never blocked: %d bytes committed with the peer not reading, high-water mark %d", total, testHigh)
}
