//go:build !windows

package netpoll

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// netpoll can run a link's close callback after the peer's end of stream
// while its input still holds frames no OnRequest has seen: its worker
// releases the connection's processing lock before it looks again for
// input read meanwhile, and the poller's hang-up handling can take the
// lock in between (TestFaultCloseRacingSenders lost a connection's last
// echoes about once in 1500 connections so). The test makes that state
// without the timing: newLink is held before it sets OnRequest while the
// peer sends its frames and ends the stream, until netpoll's poller has
// read them and seen the hang-up (OnDisconnect), and netpoll's connection
// is then closed under the link, which runs the close callback at once,
// OnRequest never having run. Every frame the peer
// sent comes out of Recv, in order, then io.EOF, even past the receive
// queue's bound (the input can no longer grow).
//
// r[verify link.rx.eof] r[verify link.rx.recv]
func TestRecvInputLeftAtHangUp(t *testing.T) {
	nc, peer := tcpConns(t)
	o := framelink.Options{MaxFrame: 16 << 10, HighWater: 64 << 10, LowWater: 16 << 10}
	var wire bytes.Buffer
	var want [][]byte
	for i := range 100 { // about 2×HighWater
		p := payload(i*131%(4<<10), byte(i))
		want = append(want, p)
		wire.Write(frame(p))
	}
	defer peer.Close()

	hook := func(l *link) {
		// Sent now, not before: netpoll reports a hang-up it handles
		// before newLink set OnDisconnect to nobody.
		if _, err := peer.Write(wire.Bytes()); err != nil {
			t.Error(err)
		}
		peer.Close()
		select {
		case <-l.hup: // the poller read what the kernel held, then saw the end
		case <-time.After(testTimeout):
			t.Error("netpoll did not see the peer's end of stream")
		}
		_ = l.conn.Close() // runs the close callback now
		select {
		case <-l.rx.done:
		default:
			t.Error("netpoll's Close did not run the close callback")
		}
	}
	beforeOnRequest.Store(&hook)
	l, err := NewLink(nc, o)
	beforeOnRequest.Store(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := testCtx(t)
	for i, w := range want {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: %v (the input held at the hang-up was not decoded)", i, len(want), err)
		}
		if !bytes.Equal(f.Bytes(), w) {
			t.Fatalf("frame %d: %d bytes, want %d, or different bytes", i, f.Len(), len(w))
		}
		f.Release()
	}
	for range 2 {
		if _, err := l.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv after the last frame: %v, want io.EOF", err)
		}
	}
}

// A commit can reach the link's sink after Tx.Close began (sendq's Tx
// checks for Close before it hands the frame over, and the committer can
// be descheduled between the two), even after the half-close was made and
// the peer, seeing it, hung up. It fails with ErrClosed and is not
// written, as any commit after Tx.Close: not with the error of the
// connection's end (which said the peer closed it, broken pipe).
//
// r[verify link.tx.close] r[verify link.errors]
func TestCommitAfterTxCloseAndHangUp(t *testing.T) {
	lk, peer := rawPair(t, "tcp", framelink.Options{})
	l := lk.(*link)
	sent := payload(100, 1)
	if err := l.Tx().Send(testCtx(t), sent); err != nil {
		t.Fatal(err)
	}
	if err := l.Tx().Close(); err != nil {
		t.Fatalf("Tx.Close: %v", err)
	}
	_ = peer.SetDeadline(time.Now().Add(testTimeout))
	got, err := readFrame(peer)
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("peer read %d bytes, %v; want the frame committed before Tx.Close", len(got), err)
	}
	if _, err := readFrame(peer); !errors.Is(err, io.EOF) {
		t.Fatalf("peer after the frame: %v, want io.EOF (the half-close)", err)
	}
	peer.Close()
	select {
	case <-l.rx.done: // netpoll saw the hang-up and ran the close callback
	case <-testCtx(t).Done():
		t.Fatal("netpoll did not see the peer's hang-up")
	}
	if _, err := l.Rx().Recv(testCtx(t)); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer's end: %v, want io.EOF", err)
	}

	// A slot frame (header written) arriving at the sink late.
	fr := pool.Get(codec.HeaderSize + 10)
	codec.PutHeader(fr, 10)
	if err := l.out.Commit(fr); !errors.Is(err, framelink.ErrClosed) {
		t.Errorf("sink Commit after Tx.Close and the peer's hang-up: %v, want ErrClosed", err)
	}
	// Send's copy path, past its own Closed check.
	if err := l.out.send(sent); !errors.Is(err, framelink.ErrClosed) {
		t.Errorf("send after Tx.Close and the peer's hang-up: %v, want ErrClosed", err)
	}
	if st := l.Stats(); st.FramesOut != 1 || st.QueuedBytes != 0 {
		t.Errorf("Stats %+v: want 1 frame out and nothing queued", st)
	}
}

// The peer can end the stream before newLink has set OnRequest (netpoll's
// poller handles the descriptor from NewFDConnection on): netpoll then
// runs no close callback at the hang-up and leaves it to Close, or to an
// OnRequest that buffered input starts. Whether the peer sent nothing,
// whole frames or half a frame, Recv returns what was sent and then the
// end of the stream (io.EOF, or io.ErrUnexpectedEOF after half a frame),
// without a Close. newLink is held before it sets OnRequest until the
// poller has seen the hang-up (OnDisconnect).
//
// r[verify link.rx.eof] r[verify wire.eof] r[verify wire.truncated]
func TestRecvEndAtEarlyHangUp(t *testing.T) {
	whole := append(frame(payload(100, 1)), frame(payload(5000, 2))...)
	for _, tc := range []struct {
		name   string
		wire   []byte
		frames int
		end    error
	}{
		{"nothing", nil, 0, io.EOF},
		{"frames", whole, 2, io.EOF},
		{"half a frame", append(append([]byte(nil), whole...), frame(payload(300, 3))[:150]...), 2, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, peer := tcpConns(t)
			defer peer.Close()
			hook := func(l *link) {
				if len(tc.wire) > 0 {
					if _, err := peer.Write(tc.wire); err != nil {
						t.Error(err)
					}
				}
				peer.Close()
				select {
				case <-l.hup:
				case <-time.After(testTimeout):
					t.Error("netpoll did not see the peer's end of stream")
				}
			}
			beforeOnRequest.Store(&hook)
			l, err := NewLink(nc, framelink.Options{})
			beforeOnRequest.Store(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx := testCtx(t)
			for i := range tc.frames {
				f, err := l.Rx().Recv(ctx)
				if err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				f.Release()
			}
			for range 2 {
				if _, err := l.Rx().Recv(ctx); !errors.Is(err, tc.end) {
					t.Fatalf("Recv at the end: %v, want %v", err, tc.end)
				}
			}
		})
	}
}
