package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// A Recv whose context ends while half a frame has arrived returns the
// context's error; the frame is not lost: the next Recv returns it whole.
// r[verify link.rx.recv] r[verify link.tx.cancel]
func TestRecvCancelMidFrame(t *testing.T) {
	l, peer := rawPair(t, "tcp", framelink.Options{})
	want := payload(10000, 3)
	wire := frame(want)
	if _, err := peer.Write(wire[:5000]); err != nil {
		t.Fatal(err)
	}
	// The deadline passes while Recv waits for the rest (OnRequest keeps
	// assembling the frame and queues it).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Rx().Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with an expiring context: %v, want context.DeadlineExceeded", err)
	}
	if _, err := peer.Write(wire[5000:]); err != nil {
		t.Fatal(err)
	}
	f, err := l.Rx().Recv(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatalf("frame after the cancelled Recv: %d bytes, differs", f.Len())
	}
	// And again with the frame already whole before the context ends.
	if _, err := peer.Write(frame([]byte("next"))); err != nil {
		t.Fatal(err)
	}
	f2, err := l.Rx().Recv(testCtx(t))
	if err != nil || string(f2.Bytes()) != "next" {
		t.Fatalf("next frame: %q, %v", f2.Bytes(), err)
	}
	f2.Release()
}

// recvBoundOpts make Recv's queue small: 64 KiB. (The input a link holds
// where reads cannot be switched off is at least 32 MiB: recvInputLimit.)
var recvBoundOpts = framelink.Options{MaxFrame: 16 << 10, HighWater: 64 << 10, LowWater: 16 << 10}

// Where reads cannot be switched off (not Linux, or a netpoll other than
// the verified version), a link whose application does not call Recv
// holds the input netpoll reads up to the input limit, then closes: Recv
// returns the frames queued, in order, then ErrInputOverflow.
// r[verify link.rx.recv] r[verify link.rx.error]
func TestRecvOverflowWithoutReadSwitch(t *testing.T) {
	o := mustNormalize(t, recvBoundOpts)
	nc, peer := tcpConns(t)
	c, err := toNetpoll(nc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLink(c, o, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); peer.Close() })
	const size = 1 << 10
	var wire []byte
	for i := range 64 {
		wire = append(wire, frame(payload(size, byte(i)))...)
	}
	written := 0
	var werr error
	for written < 256<<20 { // the link closes long before
		var n int
		n, werr = peer.Write(wire)
		written += n
		if werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatalf("the peer wrote %d MiB to a link not calling Recv and was neither held off nor closed", written>>20)
	}
	frames := 0
	for frames <= written/size {
		var f framelink.Frame
		if f, err = l.Rx().Recv(testCtx(t)); err != nil {
			break
		}
		if !bytes.Equal(f.Bytes(), payload(size, byte(frames%64))) {
			t.Fatalf("queued frame %d differs", frames)
		}
		f.Release()
		frames++
	}
	if !errors.Is(err, ErrInputOverflow) || !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("Recv after %d frames = %v, want ErrInputOverflow", frames, err)
	}
	if maxq := o.HighWater/size + 1; frames > maxq {
		t.Errorf("Recv returned %d queued frames, more than HighWater allows (%d)", frames, maxq)
	}
	t.Logf("peer wrote %d KiB before the link closed (input limit %d KiB); %d frames were queued", written>>10, recvInputLimit(o)>>10, frames)
	if _, err := l.Rx().Recv(testCtx(t)); !errors.Is(err, ErrInputOverflow) {
		t.Errorf("Recv again = %v, want the same error", err)
	}
	if err := l.Tx().Send(testCtx(t), []byte("x")); err == nil {
		t.Error("Send on a link closed for not receiving succeeded")
	}
}

// A link whose application stops calling Recv for a while, with less than
// the input limit sent meanwhile, loses nothing: once Recv takes the queue
// under LowWater, decoding resumes, and every frame arrives in order.
// r[verify link.rx.recv]
func TestRecvResumesAfterPause(t *testing.T) {
	l, peer := rawPair(t, "unix", recvBoundOpts)
	const size, n = 1 << 10, 300 // 300 KiB: over HighWater, under the input limit
	pausedSeen := make(chan struct{})
	go func() {
		for i := range n {
			if _, err := peer.Write(frame(payload(size, byte(i)))); err != nil {
				return
			}
		}
		// The end of stream only once the pause was seen: input that
		// arrives with its end is decoded regardless of the queue's
		// bound (rx.closed), so the pause this test is about could be
		// skipped (1 run in about 200 under -tags framelinkdebug).
		<-pausedSeen
		_ = peer.(interface{ CloseWrite() error }).CloseWrite()
	}()
	recvSeq(t, l, n, size, func(i int) {
		if i == 0 {
			// Stop receiving until the queue fills and OnRequest pauses
			// with input held.
			waitQueueFull(t, l)
			close(pausedSeen)
		}
	})
}

// recvSeq receives n frames of size bytes, payload(size, i) in order
// (after each, after(i) if not nil), then io.EOF.
func recvSeq(t *testing.T, l framelink.Link, n, size int, after func(i int)) {
	t.Helper()
	for i := range n {
		f, err := l.Rx().Recv(testCtx(t))
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if !bytes.Equal(f.Bytes(), payload(size, byte(i))) {
			t.Fatalf("frame %d differs", i)
		}
		f.Release()
		if after != nil {
			after(i)
		}
	}
	if _, err := l.Rx().Recv(testCtx(t)); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the last frame = %v, want io.EOF", err)
	}
}

// waitQueueFull waits until the link's OnRequest has paused on a full
// Recv queue.
func waitQueueFull(t *testing.T, l framelink.Link) {
	t.Helper()
	lk := l.(*link)
	waitCond(t, "OnRequest paused on a full Recv queue", lk.rx.paused.Load)
}

// waitCond polls cond until it holds, bounded by the test context.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

func mustNormalize(t *testing.T, o framelink.Options) framelink.Options {
	t.Helper()
	o, err := o.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return o
}
