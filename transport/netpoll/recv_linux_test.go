package netpoll

import (
	"sync/atomic"
	"testing"

	"github.com/cloudwego/netpoll"
)

// A link whose application stops calling Recv holds the peer off: it
// queues HighWater bytes of frames, switches netpoll's reads of the socket
// off, and the rest waits in the kernel (the TCP window stops the peer).
// Once Recv resumes, every frame arrives, in order, and nothing more than
// the input limit was ever held.
// r[verify link.rx.recv] r[verify link.tx.backpressure]
func TestRecvHoldsOffPeer(t *testing.T) {
	l, peer := rawPair(t, "tcp", recvBoundOpts)
	lk := l.(*link)
	if lk.rs == nil {
		t.Fatal("no read switch for a netpoll link on Linux (see readswitch_linux.go)")
	}
	const size, n = 1 << 10, 16 << 10 // 16 MiB: 32 times the input limit
	wdone := make(chan error, 1)
	go func() {
		var chunk []byte
		for i := 0; i < n; i++ {
			chunk = append(chunk, frame(payload(size, byte(i)))...)
			if len(chunk) >= 64<<10 || i == n-1 {
				if _, err := peer.Write(chunk); err != nil {
					wdone <- err
					return
				}
				chunk = chunk[:0]
			}
		}
		wdone <- peer.(interface{ CloseWrite() error }).CloseWrite()
	}()
	// Not receiving: OnRequest fills the queue, switches reads off, and
	// the peer's bytes pile up in the kernel, not in netpoll's buffer.
	fd := lk.conn.(netpoll.Conn).Fd()
	waitCond(t, "reads switched off with 64 KiB waiting in the kernel", func() bool {
		return lk.rx.paused.Load() && lk.rs.isOff() && unread(fd) >= 64<<10
	})
	// What netpoll read before reads went off stays; nothing more comes.
	held, bound := lk.conn.Reader().Len(), recvInputLimit(mustNormalize(t, recvBoundOpts))+netpollMaxRead
	if held > bound {
		t.Errorf("netpoll holds %d bytes of input for a link not receiving, over the bound %d", held, bound)
	}
	t.Logf("paused: netpoll holds %d bytes, the kernel %d", held, unread(fd))
	recvSeq(t, l, n, size, nil)
	if err := <-wdone; err != nil {
		t.Fatalf("peer: %v", err)
	}
}

// The end of a pause must not switch netpoll's reads back on while
// netpoll's buffer still holds more than the read-ahead limit of input
// not yet decoded. It did: the queue's pause switched reads on whenever
// Recv had taken it under LowWater, and each time netpoll read what the
// kernel held (megabytes) on top of what it already held, for only
// HighWater-LowWater of frames taken. A pull echo server whose peer never
// reads its echoes (reliability's TestStalledPeer/server/netpoll-pull)
// buffered 71 MiB so, when netpoll's poller happened to run in enough of
// those windows. The test makes the input held large without the timing:
// newLink is held before it sets OnRequest until netpoll has read four
// times the limit; then every switch of the link's reads is looked at
// (before it is made): reads go on only with at most the limit held.
// Every frame still arrives, in order, including those the peer sends
// while reads are off, so reads do come back on.
// r[verify link.rx.recv] r[verify link.tx.backpressure]
func TestRecvPauseKeepsReadAheadOff(t *testing.T) {
	o := mustNormalize(t, recvBoundOpts)
	limit := inputLimit(o) // 512 KiB
	const size = 1 << 10
	before := 4 * limit / size // frames netpoll holds before OnRequest runs
	const later = 4 << 10      // 4 MiB more, sent once OnRequest runs
	var wire []byte
	for i := range before {
		wire = append(wire, frame(payload(size, byte(i)))...)
	}
	nc, peer := tcpConns(t)

	var offs, ons, bad atomic.Int64
	var worst atomic.Int64
	check := func(l *link, off bool) {
		if off {
			offs.Add(1)
			return
		}
		ons.Add(1)
		if held := l.conn.Reader().Len(); held > limit {
			bad.Add(1)
			worst.Store(max(worst.Load(), int64(held)))
		}
	}
	readSwitchHook.Store(&check)
	t.Cleanup(func() { readSwitchHook.Store(nil) })
	hold := func(l *link) {
		if _, err := peer.Write(wire); err != nil {
			t.Error(err)
			return
		}
		waitCond(t, "netpoll holding every byte sent", func() bool { return l.conn.Reader().Len() == len(wire) })
	}
	beforeOnRequest.Store(&hold)
	l, err := NewLink(nc, o)
	beforeOnRequest.Store(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	lk := l.(*link)
	if lk.rs == nil {
		t.Fatal("no read switch for a netpoll link on Linux (see readswitch_linux.go)")
	}
	// The queue fills from the input held and OnRequest pauses, before
	// the peer sends more: once the peer has sent everything and hung up,
	// the end of stream lets OnRequest decode the rest regardless of the
	// queue (seen in CI when the kernel took the 4 MiB at once), so the
	// pause must be seen first. Every Recv from here on can end it.
	waitQueueFull(t, l)
	wdone := make(chan error, 1)
	go func() {
		var chunk []byte
		for i := before; i < before+later; i++ {
			chunk = append(chunk, frame(payload(size, byte(i)))...)
			if len(chunk) >= 64<<10 || i == before+later-1 {
				if _, err := peer.Write(chunk); err != nil {
					wdone <- err
					return
				}
				chunk = chunk[:0]
			}
		}
		wdone <- peer.(interface{ CloseWrite() error }).CloseWrite()
	}()
	recvSeq(t, l, before+later, size, nil)
	if err := <-wdone; err != nil {
		t.Fatalf("peer: %v", err)
	}
	if offs.Load() == 0 {
		t.Fatal("reads were never switched off: the test did not pause the link")
	}
	if bad.Load() > 0 {
		t.Errorf("reads were switched back on %d of %d times with more than the read-ahead limit (%d bytes) of input held, up to %d bytes",
			bad.Load(), ons.Load(), limit, worst.Load())
	}
	t.Logf("reads switched off %d times, on %d times", offs.Load(), ons.Load())
}
