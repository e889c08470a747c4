package framelink

import "context"

// A Link is one framed, bidirectional, message-oriented connection. It
// splits into a sending half Tx and a receiving half Rx that may be used
// from different goroutines (r[link.split]).
//
// Every committed frame is received as exactly one payload, in commit order,
// without duplication (r[link.message], r[link.order]).
type Link interface {
	// Tx returns the sending half. It is the same value on every call.
	Tx() Tx
	// Rx returns the receiving half. It is the same value on every call.
	Rx() Rx
	// Close closes both halves at once: pending Reserve and Recv calls
	// return ErrClosed promptly, and every goroutine and resource the link
	// started is gone when Close returns. Frames committed but not yet
	// written may be lost; use Tx.Close first for a graceful end. Close is
	// idempotent and safe from any goroutine. (r[link.close])
	Close() error
	// Stats returns a snapshot of the link's counters (r[link.stats]).
	Stats() Stats
}

// Tx is the sending half of a Link. It is safe for concurrent use: frames
// committed from different goroutines never interleave on the wire
// (r[link.tx.concurrent]).
type Tx interface {
	// Reserve waits until the link can take one more frame and returns a
	// Permit for it. It is the backpressure point: while the bytes
	// committed but not yet written exceed the high-water mark, Reserve
	// blocks until they fall under the low-water mark. It returns ctx's
	// error if ctx ends first, and ErrClosed after Close. A Permit holds
	// no capacity until Alloc, so a dropped Permit never stalls the link.
	Reserve(ctx context.Context) (Permit, error)

	// Send is Reserve, Alloc(len(p)), copy and Commit in one call. p is
	// not retained after Send returns.
	Send(ctx context.Context, p []byte) error

	// Close is a graceful half-close: every frame committed before it is
	// written, then the peer sees a clean end of stream. Reserve after
	// Close returns ErrClosed. Close waits for the committed frames to be
	// handed to the kernel (or the link to fail) and is idempotent.
	Close() error
}

// Rx is the receiving half of a Link. Recv may be called from one
// goroutine at a time.
type Rx interface {
	// Recv returns the next frame. The frame's bytes stay valid and
	// unchanged until Frame.Release. After the peer's graceful close and
	// every frame before it, Recv returns io.EOF, and keeps returning it.
	// After any other error the receiver is dead: every later Recv
	// returns an error. If ctx ends first Recv returns ctx's error and
	// loses no frame.
	Recv(ctx context.Context) (Frame, error)
}
