//go:build !windows

package netpoll

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// errPeerClosed is the write-side error after the peer closed or reset the
// connection (netpoll reports only that the connection is gone).
var errPeerClosed = fmt.Errorf("framelink/netpoll: connection closed by peer: %w", syscall.EPIPE)

// deadlineError wraps os.ErrDeadlineExceeded with what expired.
func deadlineError(what string) error {
	return fmt.Errorf("framelink/netpoll: %s: %w", what, os.ErrDeadlineExceeded)
}

// readErr maps an error from netpoll's Reader into the framelink taxonomy
// (r[link.errors]). partial tells whether part of a frame was buffered when
// the stream ended. r[impl link.errors]
func readErr(err error, partial bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netpoll.ErrReadTimeout):
		return deadlineError("read timeout")
	// ErrEOF also matches ErrConnClosed, so it is tested first.
	case errors.Is(err, netpoll.ErrEOF):
		if partial {
			return io.ErrUnexpectedEOF
		}
		return io.EOF
	case errors.Is(err, netpoll.ErrConnClosed):
		return framelink.ErrClosed
	}
	return err
}

// writeErr maps an error from netpoll's Flush. local tells whether the
// connection was closed on this side, active whether netpoll still deems
// it open. A flush that loses the race with the peer's hang-up fails with
// whatever netpoll met first (its ErrConnClosed, or the errno of an epoll
// call on a descriptor its poller already detached, e.g. ENOENT): all of
// those mean the peer is gone. r[impl link.errors]
func writeErr(err error, local, active bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netpoll.ErrWriteTimeout):
		return deadlineError("write timeout")
	case local:
		return framelink.ErrClosed
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return err
	case errors.Is(err, netpoll.ErrConnClosed), !active:
		return errPeerClosed
	}
	return err
}
