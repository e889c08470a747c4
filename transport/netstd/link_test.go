package netstd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

func forEachPair(t *testing.T, f func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, framelink.Link))) {
	for _, name := range []string{"tcp", "unix", "netpipe", "ospipe", "iopipe"} {
		t.Run(name, func(t *testing.T) { f(t, pairs[name]) })
	}
}

func forEachRaw(t *testing.T, f func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn))) {
	for _, name := range []string{"tcp", "unix", "netpipe", "ospipe"} {
		t.Run(name, func(t *testing.T) { f(t, rawPairs[name]) })
	}
}

func payload(i, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*7 + j)
	}
	return p
}

func recvBytes(t *testing.T, ctx context.Context, l framelink.Link) []byte {
	t.Helper()
	f, err := l.Rx().Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	b := bytes.Clone(f.Bytes())
	f.Release()
	return b
}

// r[verify transport.netstd] r[verify link.message] r[verify link.order]
// r[verify link.tx.coalesce]
func TestRoundTrip(t *testing.T) {
	forEachPair(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, framelink.Link)) {
		ctx := testCtx(t)
		a, b := mk(t, framelink.Options{})
		sizes := []int{0, 1, 3, 4, 5, 100, 4096, 16<<10 - 4, 16 << 10, 100 << 10}
		errc := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if i%2 == 0 {
					if err := a.Tx().Send(ctx, payload(i, n)); err != nil {
						errc <- err
						return
					}
					continue
				}
				pm, err := a.Tx().Reserve(ctx)
				if err != nil {
					errc <- err
					return
				}
				s, err := pm.Alloc(n)
				if err != nil {
					errc <- err
					return
				}
				copy(s.Bytes(), payload(i, n))
				if err := s.Commit(); err != nil {
					errc <- err
					return
				}
			}
			errc <- a.Tx().Close()
		}()
		for i, n := range sizes {
			got := recvBytes(t, ctx, b)
			if !bytes.Equal(got, payload(i, n)) {
				t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), n)
			}
		}
		if _, err := b.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("after Tx.Close: %v, want io.EOF", err)
		}
		if _, err := b.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("EOF not sticky: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		st := b.Stats()
		if st.FramesIn != uint64(len(sizes)) {
			t.Fatalf("FramesIn = %d, want %d", st.FramesIn, len(sizes))
		}
		if sa := a.Stats(); sa.FramesOut != uint64(len(sizes)) || sa.QueuedBytes != 0 {
			t.Fatalf("sender stats %+v", sa)
		}
	})
}

// r[verify link.tx.concurrent]
func TestConcurrentSenders(t *testing.T) {
	forEachPair(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, framelink.Link)) {
		ctx := testCtx(t)
		a, b := mk(t, framelink.Options{HighWater: 64 << 10, LowWater: 16 << 10})
		const senders, each = 4, 500
		errc := make(chan error, senders)
		for s := range senders {
			go func() {
				for i := range each {
					p := make([]byte, 8+i%300)
					binary.LittleEndian.PutUint32(p, uint32(s))
					binary.LittleEndian.PutUint32(p[4:], uint32(i))
					if err := a.Tx().Send(ctx, p); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
		}
		next := make([]uint32, senders)
		for range senders * each {
			p := recvBytes(t, ctx, b)
			s, i := binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:])
			if int(s) >= senders || i != next[s] || len(p) != 8+int(i)%300 {
				t.Fatalf("sender %d frame %d (len %d), want frame %d", s, i, len(p), next[s])
			}
			next[s]++
		}
		for range senders {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A cancelled Recv returns ctx's error and loses nothing, even when the
// cancel interrupts a read in the middle of a frame.
// r[verify link.rx.recv]
func TestRecvCancelMidFrame(t *testing.T) {
	forEachRaw(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn)) {
		ctx := testCtx(t)
		l, peer := mk(t, framelink.Options{})
		for _, n := range []int{10, 100 << 10} { // in the read buffer; read in place
			p := payload(n, n)
			wire := binary.LittleEndian.AppendUint32(nil, uint32(n))
			wire = append(wire, p...)
			half := len(wire) / 2
			// A Recv waits for a frame; half of it arrives (on net.Pipe the
			// Write returns only once the link has read it); then the Recv
			// is cancelled.
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				f, err := l.Rx().Recv(cctx)
				if err == nil {
					f.Release()
					err = errors.New("got a frame from half a frame")
				}
				done <- err
			}()
			if _, err := peer.Write(wire[:half]); err != nil {
				t.Fatal(err)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Recv: %v", err)
			}
			errw := make(chan error, 1)
			go func() {
				_, err := peer.Write(wire[half:])
				errw <- err
			}()
			got := recvBytes(t, ctx, l)
			if !bytes.Equal(got, p) {
				t.Fatalf("after cancel: got %d bytes, want %d", len(got), n)
			}
			if err := <-errw; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// r[verify link.close]
func TestCloseUnblocks(t *testing.T) {
	forEachPair(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, framelink.Link)) {
		ctx := testCtx(t)
		a, b := mk(t, framelink.Options{HighWater: 1024, LowWater: 512})
		recvErr := make(chan error, 1)
		go func() {
			_, err := a.Rx().Recv(ctx)
			recvErr <- err
		}()
		// Fill a's output until Reserve blocks: b never reads.
		resErr := make(chan error, 1)
		go func() {
			for {
				if err := a.Tx().Send(ctx, make([]byte, 4000)); err != nil {
					resErr <- err
					return
				}
			}
		}()
		// Wait until the budget is over: Reserve is blocked or about to.
		for a.Stats().QueuedBytes <= 1024 {
			select {
			case err := <-resErr:
				t.Fatalf("Send failed before Close: %v", err)
			default:
			}
			waitTick()
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-recvErr; !errors.Is(err, framelink.ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending Recv after Close: %v", err)
		}
		if err := <-resErr; !errors.Is(err, framelink.ErrClosed) {
			t.Fatalf("pending Send after Close: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := a.Tx().Reserve(ctx); !errors.Is(err, framelink.ErrClosed) {
			t.Fatalf("Reserve after Close: %v", err)
		}
		if q := a.Stats().QueuedBytes; q != 0 {
			t.Fatalf("QueuedBytes after Close = %d", q)
		}
		_ = b
	})
}

// r[verify wire.max] r[verify wire.truncated] r[verify wire.eof]
// r[verify link.rx.error]
func TestRawErrors(t *testing.T) {
	forEachRaw(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn)) {
		cases := []struct {
			name string
			wire []byte
			want error
		}{
			{"oversize", []byte{0xff, 0xff, 0xff, 0xff}, framelink.ErrFrameTooLarge},
			{"truncated header", []byte{5, 0}, io.ErrUnexpectedEOF},
			{"truncated payload", []byte{5, 0, 0, 0, 'a'}, io.ErrUnexpectedEOF},
			{"eof", []byte{1, 0, 0, 0, 'a'}, io.EOF},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				l, peer := mk(t, framelink.Options{MaxFrame: 1000})
				go func() {
					peer.Write(tc.wire)
					if cw, ok := peer.(interface{ CloseWrite() error }); ok && tc.want != framelink.ErrFrameTooLarge {
						cw.CloseWrite()
					} else if tc.want != framelink.ErrFrameTooLarge {
						peer.Close()
					}
				}()
				var err error
				for range 3 {
					var f framelink.Frame
					f, err = l.Rx().Recv(ctx)
					if err != nil {
						break
					}
					f.Release()
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if _, err2 := l.Rx().Recv(ctx); err2 == nil {
					t.Fatal("Recv after error returned a frame")
				}
				if tc.want == framelink.ErrFrameTooLarge {
					var fe *framelink.FrameTooLargeError
					if !errors.As(err, &fe) || fe.Size != 0xffffffff || fe.Max != 1000 {
						t.Fatalf("error %v does not carry the sizes", err)
					}
					if l.Stats().Oversize != 1 {
						t.Fatalf("Oversize = %d", l.Stats().Oversize)
					}
				}
			})
		}
	})
}

// The link writes exactly [len][payload] per frame, nothing else.
// r[verify wire.frame] r[verify wire.empty]
func TestRawWire(t *testing.T) {
	forEachRaw(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn)) {
		ctx := testCtx(t)
		l, peer := mk(t, framelink.Options{})
		var want []byte
		for i, n := range []int{0, 1, 300} {
			p := payload(i, n)
			want = binary.LittleEndian.AppendUint32(want, uint32(n))
			want = append(want, p...)
			if err := l.Tx().Send(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("wire bytes\n got %x\nwant %x", got, want)
		}
	})
}

// r[verify link.tx.backpressure]
func TestBackpressureBounded(t *testing.T) {
	forEachRaw(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn)) {
		ctx := testCtx(t)
		const high, frame = 64 << 10, 1000
		l, peer := mk(t, framelink.Options{HighWater: high, LowWater: high / 4})
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sent := make(chan int, 1)
		go func() {
			n := 0
			for {
				if err := l.Tx().Send(cctx, make([]byte, frame)); err != nil {
					sent <- n
					return
				}
				n++
			}
		}()
		// Drain the peer slowly: the queue must never pass high + 1 frame.
		buf := make([]byte, 4096)
		total := 0
		for total < 2<<20 {
			if q := l.Stats().QueuedBytes; q > high+frame+4 {
				t.Fatalf("QueuedBytes %d above high water %d + one frame", q, high)
			}
			n, err := peer.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		cancel()
		n := <-sent
		if n < 10 {
			t.Fatalf("only %d frames sent", n)
		}
	})
}

func TestTxCloseFlushes(t *testing.T) {
	forEachRaw(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, net.Conn)) {
		ctx := testCtx(t)
		l, peer := mk(t, framelink.Options{})
		const n = 1000
		done := make(chan error, 1)
		go func() {
			for i := range n {
				if err := l.Tx().Send(ctx, []byte(fmt.Sprint(i))); err != nil {
					done <- err
					return
				}
			}
			done <- l.Tx().Close()
		}()
		all, err := io.ReadAll(peer)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for i := range n {
			want := fmt.Sprint(i)
			if len(all) < 4 || int(binary.LittleEndian.Uint32(all)) != len(want) || string(all[4:4+len(want)]) != want {
				t.Fatalf("frame %d wrong", i)
			}
			all = all[4+len(want):]
		}
		if len(all) != 0 {
			t.Fatalf("%d trailing bytes", len(all))
		}
		if _, err := l.Tx().Reserve(ctx); !errors.Is(err, framelink.ErrClosed) {
			t.Fatalf("Reserve after Tx.Close: %v", err)
		}
	})
}

// One long-lived ctx watched across many Recv calls: cancelling it
// interrupts the Recv waiting at that moment, and the link goes on with
// another ctx, losing nothing.
func TestRecvLongLivedCtx(t *testing.T) {
	forEachPair(t, func(t *testing.T, mk func(*testing.T, framelink.Options) (framelink.Link, framelink.Link)) {
		ctx := testCtx(t)
		a, b := mk(t, framelink.Options{})
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			for i := range 100 {
				a.Tx().Send(ctx, payload(i, i))
			}
		}()
		for i := range 100 {
			f, err := b.Rx().Recv(lctx)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !bytes.Equal(f.Bytes(), payload(i, i)) {
				t.Fatalf("frame %d differs", i)
			}
			f.Release()
		}
		done := make(chan error, 1)
		go func() {
			_, err := b.Rx().Recv(lctx)
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv on the cancelled ctx: %v", err)
		}
		if _, err := b.Rx().Recv(lctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv on a done ctx: %v", err)
		}
		go a.Tx().Send(ctx, []byte("after"))
		if got := recvBytes(t, ctx, b); string(got) != "after" {
			t.Fatalf("after the cancel: %q", got)
		}
		go a.Tx().Send(ctx, []byte("bg"))
		if got := recvBytes(t, context.Background(), b); string(got) != "bg" {
			t.Fatalf("with Background: %q", got)
		}
	})
}
