package netpoll

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// maxInt64 tracks a maximum from many goroutines.
type maxInt64 struct{ v atomic.Int64 }

func (m *maxInt64) see(x int64) {
	for {
		old := m.v.Load()
		if x <= old || m.v.CompareAndSwap(old, x) {
			return
		}
	}
}

// A peer that sends requests and never reads the replies: the server's
// queued output never exceeds the high-water mark plus one reply, and the
// connection is closed with ErrOutputOverflow (netpoll cannot pause
// reads), instead of memory growing with the peer's requests.
// r[verify serve.reply] r[verify link.tx.backpressure]
func TestServeOverflowCloses(t *testing.T) {
	const (
		high  = 256 << 10
		reply = 64 << 10
	)
	big := payload(reply, 1)
	var maxQ maxInt64
	rec := newRecorder(func(c framelink.Conn, p []byte) {
		// Only this callback sends, so the queue peaks right after a
		// successful Send at what it held before plus that reply.
		before := c.Stats().QueuedBytes
		err := c.Send(big)
		if err == nil {
			maxQ.see(before + reply + 4)
		} else if !errors.Is(err, ErrOutputOverflow) && !errors.Is(err, framelink.ErrClosed) {
			t.Errorf("Send: %v", err)
		}
	})
	s := serve(t, "tcp", rec, framelink.Options{HighWater: high, LowWater: high / 4})
	c := dialRaw(t, s)
	req := frame([]byte("request"))
	var werr error
	for range 1 << 20 { // bounded: the server closes long before
		if _, werr = c.Write(req); werr != nil {
			break
		}
	}
	ev := rec.waitClose(t)
	if !errors.Is(ev.err, ErrOutputOverflow) {
		t.Fatalf("OnClose(%v), want ErrOutputOverflow (write error %v)", ev.err, werr)
	}
	if q := maxQ.v.Load(); q > high+reply+4 {
		t.Fatalf("up to %d bytes queued, want at most the high-water mark %d plus one reply", q, high)
	}
	if q := maxQ.v.Load(); q <= high {
		t.Fatalf("at most %d bytes queued: the high-water mark %d was never passed, so the test proves nothing", q, high)
	}
}

// A pull link whose peer does not read: Reserve blocks once the queue
// passes the high-water mark, the queue never exceeds it by more than one
// frame per sender, and every frame arrives in order once the peer reads.
// (The peer is a plain socket: a netpoll receiver would read regardless.)
// r[verify link.tx.backpressure]
func TestBackpressureRawPeer(t *testing.T) {
	const (
		high    = 128 << 10
		size    = 16 << 10
		senders = 4
	)
	l, peer := rawPair(t, "tcp", framelink.Options{HighWater: high, LowWater: high / 4})
	ctx := testCtx(t)
	var maxQ maxInt64
	sent := make([]int, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := payload(size, byte(g))
			for i := 0; i < 1<<16; i++ { // bounded
				rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				pm, err := l.Tx().Reserve(rctx)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					return // blocked: the budget is full
				}
				if err != nil {
					t.Error(err)
					return
				}
				s, err := pm.Alloc(size)
				if err != nil {
					t.Error(err)
					return
				}
				copy(s.Bytes(), p)
				s.Bytes()[0] = byte(i)
				if err := s.Commit(); err != nil {
					t.Error(err)
					return
				}
				sent[g]++
				maxQ.see(l.Stats().QueuedBytes)
			}
			t.Errorf("sender %d never blocked", g)
		}()
	}
	wg.Wait()
	if q := maxQ.v.Load(); q > high+senders*(size+4) {
		t.Fatalf("up to %d bytes queued, want at most %d + one frame per sender", q, high)
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	next := make([]int, senders)
	for range total {
		p, err := readFrame(peer)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != size {
			t.Fatalf("frame of %d bytes", len(p))
		}
		g := int(p[1] - byte(7))
		if g < 0 || g >= senders || p[0] != byte(next[g]) {
			t.Fatalf("frame out of order or corrupt: sender byte %d, seq byte %d", p[1], p[0])
		}
		next[g]++
	}
	// The budget has drained: a Reserve returns at once again.
	if err := l.Tx().Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if p, err := readFrame(peer); err != nil || string(p) != "after" {
		t.Fatalf("after draining: %q, %v", p, err)
	}
	_ = l.Close()
	if _, err := io.Copy(io.Discard, peer); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("peer still open after Close")
	}
}
