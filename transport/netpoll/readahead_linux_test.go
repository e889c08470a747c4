package netpoll

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// netpoll reads a connection ahead of OnRequest as fast as the peer
// sends. A handler that is slower than its peer (here: one that waits for
// the test before each frame) does not make the connection buffer without
// bound: once more than the input limit is held, netpoll's reads of the
// socket are switched off between frames, the peer's bytes wait in the
// kernel, and every frame is still delivered, in order.
// r[verify serve.handler] r[verify link.tx.backpressure]
func TestServeReadAheadBounded(t *testing.T) {
	const size = 1 << 10
	o := framelink.Options{HighWater: 64 << 10, LowWater: 16 << 10, MaxFrame: 16 << 10}
	limit := inputLimit(mustNormalize(t, o)) // 512 KiB
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	var got, bad atomic.Int64
	rec := newRecorder(func(_ framelink.Conn, p []byte) {
		i := got.Load()
		if len(p) != size || p[0] != byte(i) {
			bad.Add(1)
		}
		<-gate // until release closes it
		got.Add(1)
	})
	s := serve(t, "tcp", rec, o)
	t.Cleanup(release) // before the server's Shutdown, which waits for the handler
	c := dialRaw(t, s)
	sc := (<-rec.opened).(*sconn)
	// The peer sends until told to stop, so that it is still sending when
	// reads go off.
	var stop atomic.Bool
	sent := make(chan int, 1)
	go func() {
		i := 0
		var chunk []byte
		for !stop.Load() {
			chunk = chunk[:0]
			for range 64 {
				chunk = append(chunk, frame(payload(size, byte(i)))...)
				i++
			}
			if _, err := c.Write(chunk); err != nil {
				t.Errorf("peer: %v", err)
				break
			}
		}
		sent <- i
	}()
	// Frame 0 is held by the handler while netpoll reads ahead (unless
	// OnRequest already saw more than the limit before it).
	held := func() int { return sc.conn.Reader().Len() }
	waitCond(t, "netpoll reading more than the limit ahead of a stopped handler", func() bool { return held() > limit })
	gate <- struct{}{} // frame 0 done: OnRequest sees the input held
	// Frame 1 is held next; OnRequest has switched reads off, and the
	// peer's bytes pile up in the kernel.
	fd := sc.conn.(netpoll.Conn).Fd()
	waitCond(t, "reads switched off with 64 KiB waiting in the kernel", func() bool {
		sc.fdMu.Lock()
		defer sc.fdMu.Unlock()
		return sc.rs != nil && sc.rs.isOff() && unread(fd) >= 64<<10
	})
	t.Logf("reads off: netpoll holds %d KiB (limit %d KiB), the kernel %d KiB", held()>>10, limit>>10, unread(fd)>>10)
	release()
	stop.Store(true)
	n := <-sent
	waitCond(t, "every frame sent delivered", func() bool { return got.Load() == int64(n) })
	c.Close()
	rec.waitClose(t)
	if got.Load() != int64(n) || bad.Load() != 0 {
		t.Fatalf("handler got %d frames (%d wrong), want %d", got.Load(), bad.Load(), n)
	}
}
