package netpoll

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/framelink/framelink"
)

// Links opened and closed in quick succession, full duplex with both send
// paths: every frame arrives. This caught a netpoll race: closing a
// connection's descriptor while netpoll's poller still handles its
// hang-up on another thread lets a late epoll removal hit the next
// connection that reuses the number (it then never sees an event). Links
// now shut the socket down and let netpoll detach it first (closeConn).
// A failure dumps both links' state and every goroutine.
func TestCloseReopenChurn(t *testing.T) {
	iters := 200
	if testing.Short() {
		iters = 20
	}
	for iter := range iters {
		network := []string{"unix", "tcp"}[iter%2]
		a, b := pullPair(t, network, framelink.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		const n = 500
		send := func(l framelink.Link, g uint32) error {
			for seq := range uint32(n) {
				p := make([]byte, 8+int(seq%300))
				binary.LittleEndian.PutUint32(p, g)
				binary.LittleEndian.PutUint32(p[4:], seq)
				var err error
				if seq%2 == 0 {
					err = l.Tx().Send(ctx, p)
				} else {
					var pm framelink.Permit
					pm, err = l.Tx().Reserve(ctx)
					if err == nil {
						var s framelink.Slot
						s, err = pm.Alloc(len(p))
						if err == nil {
							copy(s.Bytes(), p)
							err = s.Commit()
						}
					}
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
		var recvd [2]atomic.Int64
		recv := func(l framelink.Link, i int, g uint32) error {
			for seq := range uint32(n) {
				f, err := l.Rx().Recv(ctx)
				if err != nil {
					return err
				}
				p := f.Bytes()
				ok := len(p) == 8+int(seq%300) && binary.LittleEndian.Uint32(p) == g && binary.LittleEndian.Uint32(p[4:]) == seq
				f.Release()
				if !ok {
					return fmt.Errorf("frame %d from %d: wrong bytes", seq, g)
				}
				recvd[i].Add(1)
			}
			return nil
		}
		errs := make(chan error, 4)
		go func() { errs <- send(a, 1) }()
		go func() { errs <- send(b, 2) }()
		go func() { errs <- recv(a, 0, 2) }()
		go func() { errs <- recv(b, 1, 1) }()
		for range 4 {
			if err := <-errs; err != nil {
				la, lb := a.(*link), b.(*link)
				dump := func(name string, l *link) string {
					o := &l.out
					o.mu.Lock()
					defer o.mu.Unlock()
					queued := 0
					if o.q != nil {
						queued = o.q.n
					}
					return fmt.Sprintf("%s: inLen=%d flushing=%v queue=%d err=%v shut=%v budget=%d rxQueued=%d stats=%+v",
						name, l.conn.Reader().Len(), o.flushing, queued, o.err, o.shut, l.budget.Queued(), l.rx.queued.Load(), l.counters.Snapshot())
				}
				buf := make([]byte, 1<<20)
				nb := runtime.Stack(buf, true)
				t.Fatalf("iter %d: %v; received %d and %d\n%s\n%s\n%s", iter, err, recvd[0].Load(), recvd[1].Load(), dump("a", la), dump("b", lb), buf[:nb])
			}
		}
		cancel()
		a.Close()
		b.Close()
	}
}
