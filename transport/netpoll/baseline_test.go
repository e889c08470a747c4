package netpoll

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/cloudwego/netpoll"
)

// bareEcho is the same echo written by hand directly on netpoll, with no
// framework, for the side-by-side benchmarks and the idle-memory
// comparison: one EventLoop with netpoll's defaults; OnRequest consumes
// every whole frame buffered (Peek the header, Next the frame), copies it
// into the Writer (Malloc), Releases, and Flushes once; on a partial frame
// it flushes what it has and blocks in Next for the rest.
type bareEcho struct {
	ln   netpoll.Listener
	evl  netpoll.EventLoop
	done chan struct{}
}

func startBareEcho(t testing.TB, network string) *bareEcho {
	t.Helper()
	ln, err := netpoll.CreateListener(network, listenAddr(t, network))
	if err != nil {
		t.Fatal(err)
	}
	evl, err := netpoll.NewEventLoop(bareOnRequest)
	if err != nil {
		t.Fatal(err)
	}
	b := &bareEcho{ln: ln, evl: evl, done: make(chan struct{})}
	go func() { defer close(b.done); _ = evl.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = evl.Shutdown(ctx)
		<-b.done
	})
	return b
}

func (b *bareEcho) Addr() net.Addr { return b.ln.Addr() }

func bareOnRequest(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	for r.Len() > 0 {
		if !bareBuffered(r) && w.MallocLen() > 0 {
			_ = r.Release()
			if err := w.Flush(); err != nil {
				return err
			}
		}
		hdr, err := r.Peek(4)
		if err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(hdr)
		if n > 16<<20 {
			return c.Close()
		}
		f, err := r.Next(4 + int(n))
		if err != nil {
			return err
		}
		out, _ := w.Malloc(len(f))
		copy(out, f)
	}
	_ = r.Release()
	if w.MallocLen() > 0 {
		return w.Flush()
	}
	return nil
}

func bareBuffered(r netpoll.Reader) bool {
	l := r.Len()
	if l < 4 {
		return false
	}
	hdr, err := r.Peek(4)
	if err != nil {
		return false
	}
	return l >= 4+int(binary.LittleEndian.Uint32(hdr))
}
