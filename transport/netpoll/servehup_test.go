//go:build !windows

package netpoll

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// hupRecorder is a Handler that records a copy of every frame, replies
// with it, and records the reply's error.
type hupRecorder struct {
	mu       sync.Mutex
	frames   [][]byte
	sendErrs []error
	in       uint64 // Stats().FramesIn at OnClose
	closed   chan error
}

func (h *hupRecorder) OnOpen(framelink.Conn) {}

func (h *hupRecorder) OnFrame(c framelink.Conn, p []byte) {
	err := c.Send(p)
	h.mu.Lock()
	h.frames = append(h.frames, bytes.Clone(p))
	h.sendErrs = append(h.sendErrs, err)
	h.mu.Unlock()
}

func (h *hupRecorder) OnClose(c framelink.Conn, err error) {
	h.mu.Lock()
	h.in = c.Stats().FramesIn
	h.mu.Unlock()
	h.closed <- err
}

// netpoll can run a served connection's close callback after the peer's
// end of stream while its input still holds frames no OnRequest has seen
// (see sconn.onClosed: netpoll's worker releases the processing lock
// before it looks again for input, and the hang-up handling can take the
// lock in between). The test makes that state without the timing: the
// first OnRequest, having delivered the first frame, is held at its end
// (requestHook, the worker still holding netpoll's processing lock) while
// the peer sends more and hangs up, until netpoll's poller has read it all
// and seen the end of stream (which wakes a read of more than that with
// ErrEOF; the hang-up handling cannot run the close callback while the
// worker holds the lock); netpoll's connection is then closed under the
// sconn, so the worker runs the close callback as soon as OnRequest
// returns, OnRequest not running again.
//
// The handler sees every whole frame the peer sent, in order (its
// replies fail: the peer is gone), then OnClose: nil on a frame boundary,
// io.ErrUnexpectedEOF after part of a frame. After a local Close no frame
// is delivered.
//
// r[verify serve.handler] r[verify wire.eof] r[verify wire.truncated]
func TestServeInputLeftAtHangUp(t *testing.T) {
	first := payload(100, 1)
	var rest [][]byte
	var whole []byte
	for i := range 20 {
		p := payload(i*211%3000, byte(i+2))
		rest = append(rest, p)
		whole = append(whole, frame(p)...)
	}
	for _, tc := range []struct {
		name   string
		wire   []byte
		local  bool // the sconn is closed here (Close) before netpoll's connection
		frames int  // of rest, delivered
		end    error
	}{
		{"frames", whole, false, len(rest), nil},
		{"half a frame", append(bytes.Clone(whole), frame(payload(300, 3))[:150]...), false, len(rest), io.ErrUnexpectedEOF},
		{"half a header", append(bytes.Clone(whole), 7, 0), false, len(rest), io.ErrUnexpectedEOF},
		{"closed here", whole, true, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hupRecorder{closed: make(chan error, 1)}
			s := serve(t, "tcp", h, framelink.Options{FrameTimeout: testTimeout})
			peer := dialRaw(t, s)
			var once sync.Once
			hook := func(c *sconn) {
				once.Do(func() {
					r := c.conn.Reader()
					if n := r.Len(); n != 0 {
						t.Errorf("OnRequest left %d bytes", n)
						return
					}
					// The reply to the first frame was written at the
					// batch's end: read it, so that the peer's close is
					// a FIN, not a reset.
					if got, err := readFrame(peer); err != nil || !bytes.Equal(got, first) {
						t.Errorf("reply to the first frame: %d bytes, %v", len(got), err)
					}
					if _, err := peer.Write(tc.wire); err != nil {
						t.Error(err)
					}
					_ = peer.Close()
					if _, err := r.Peek(len(tc.wire) + 1); !errors.Is(err, netpoll.ErrEOF) {
						t.Errorf("waiting for the peer's end of stream: %v, want netpoll's ErrEOF", err)
					}
					if n := r.Len(); n != len(tc.wire) {
						t.Errorf("netpoll holds %d bytes, the peer sent %d", n, len(tc.wire))
					}
					if tc.local {
						_ = c.Close()
					}
					_ = c.conn.Close() // the close callback runs when OnRequest returns
				})
			}
			s.(*server).requestHook.Store(&hook)
			if _, err := peer.Write(frame(first)); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-h.closed:
			case <-time.After(testTimeout):
				t.Fatal("no OnClose")
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.frames) != 1+tc.frames {
				t.Fatalf("%d frames delivered, want %d (the input held at the hang-up was not delivered)", len(h.frames), 1+tc.frames)
			}
			for i, f := range h.frames {
				want := first
				if i > 0 {
					want = rest[i-1]
				}
				if !bytes.Equal(f, want) {
					t.Fatalf("frame %d: %d bytes, want %d, or different bytes", i, len(f), len(want))
				}
			}
			if h.in != uint64(len(h.frames)) {
				t.Errorf("Stats().FramesIn = %d at OnClose, %d frames delivered", h.in, len(h.frames))
			}
			if h.sendErrs[0] != nil {
				t.Errorf("reply to the first frame: %v", h.sendErrs[0])
			}
			for i, e := range h.sendErrs[1:] {
				if !errors.Is(e, framelink.ErrClosed) {
					t.Errorf("reply to frame %d after the hang-up: %v, want ErrClosed", i+1, e)
				}
			}
			if tc.end == nil && err != nil || !errors.Is(err, tc.end) {
				t.Errorf("OnClose: %v, want %v", err, tc.end)
			}
		})
	}
}
