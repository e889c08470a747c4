package netpoll

import (
	"testing"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// netpoll reads a connection ahead of OnRequest as fast as the peer
// sends. A handler that is slower than its peer (here: one that stops
// every 1024 frames until the test lets it go) does not make the
// connection buffer without bound: once more than the input limit is held,
// netpoll's reads of the socket are switched off, the peer's bytes wait in
// the kernel, and every frame is still delivered, in order.
// r[verify serve.handler] r[verify link.tx.backpressure]
func TestServeReadAheadBounded(t *testing.T) {
	const size, n, every = 1 << 10, 16 << 10, 1024 // 16 MiB of frames
	o := framelink.Options{HighWater: 64 << 10, LowWater: 16 << 10, MaxFrame: 16 << 10}
	limit := inputLimit(mustNormalize(t, o)) // 512 KiB
	gate := make(chan struct{})
	var got int
	var bad int
	rec := newRecorder(func(_ framelink.Conn, p []byte) {
		if len(p) != size || p[0] != byte(got) {
			bad++
		}
		if got%every == 0 {
			<-gate
		}
		got++
	})
	s := serve(t, "tcp", rec, o)
	c := dialRaw(t, s)
	sc := (<-rec.opened).(*sconn)
	wdone := make(chan error, 1)
	go func() {
		var chunk []byte
		for i := range n {
			chunk = append(chunk, frame(payload(size, byte(i)))...)
			if len(chunk) >= 64<<10 || i == n-1 {
				if _, err := c.Write(chunk); err != nil {
					wdone <- err
					return
				}
				chunk = chunk[:0]
			}
		}
		wdone <- nil
	}()
	// Frame 0 is held by the handler while netpoll reads ahead.
	held := func() int { return sc.conn.Reader().Len() }
	waitCond(t, "netpoll reading 2 MiB ahead of a stopped handler", func() bool { return held() > 2<<20 })
	gate <- struct{}{} // frame 0 done: OnRequest sees the input held
	// Frame 1024 is held next; by then OnRequest has switched reads off
	// (and not back on: well over half the limit is still held).
	fd := sc.conn.(netpoll.Conn).Fd()
	waitCond(t, "reads switched off with 64 KiB waiting in the kernel", func() bool {
		sc.fdMu.Lock()
		defer sc.fdMu.Unlock()
		return sc.rs != nil && sc.rs.isOff() && unread(fd) >= 64<<10
	})
	h := held()
	t.Logf("reads off: netpoll holds %d KiB (limit %d KiB), the kernel %d KiB", h>>10, limit>>10, unread(fd)>>10)
	close(gate)
	if err := <-wdone; err != nil {
		t.Fatalf("peer: %v", err)
	}
	c.Close()
	rec.waitClose(t)
	if got != n || bad != 0 {
		t.Fatalf("handler got %d frames (%d wrong), want %d", got, bad, n)
	}
}
