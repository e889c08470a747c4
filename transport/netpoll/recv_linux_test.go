package netpoll

import (
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
