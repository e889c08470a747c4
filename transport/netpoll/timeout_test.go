package netpoll

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// A frame that stops arriving half-way is cut off by FrameTimeout with an
// error matching os.ErrDeadlineExceeded; another connection is served
// meanwhile.
// r[verify serve.timeouts]
func TestServeFrameTimeout(t *testing.T) {
	rec := newRecorder(nil)
	s := serve(t, "tcp", rec, framelink.Options{FrameTimeout: 50 * time.Millisecond})
	slow := dialRaw(t, s)
	slowConn := <-rec.opened
	if _, err := slow.Write(frame(payload(100, 0))[:20]); err != nil {
		t.Fatal(err)
	}
	other := dialRaw(t, s)
	if err := echoCheck(other, []int{1, 2, 3}, 0); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitClose(t)
	if ev.c != slowConn || !errors.Is(ev.err, os.ErrDeadlineExceeded) {
		t.Fatalf("OnClose(%v), want the stalled connection with os.ErrDeadlineExceeded", ev.err)
	}
	if _, err := readFrame(slow); err != io.EOF {
		t.Fatalf("the timed-out peer reads %v, want io.EOF", err)
	}
}

// A connection that sends nothing is closed by IdleTimeout with an error
// matching os.ErrDeadlineExceeded.
func TestServeIdleTimeout(t *testing.T) {
	rec := newRecorder(nil)
	s := serve(t, "tcp", rec, framelink.Options{IdleTimeout: 50 * time.Millisecond})
	c := dialRaw(t, s)
	ev := rec.waitClose(t)
	if !errors.Is(ev.err, os.ErrDeadlineExceeded) {
		t.Fatalf("OnClose(%v), want os.ErrDeadlineExceeded", ev.err)
	}
	if _, err := readFrame(c); err != io.EOF {
		t.Fatalf("the idle peer reads %v, want io.EOF", err)
	}
}
