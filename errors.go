package framelink

import (
	"errors"
	"fmt"
	"net"
)

// r[impl link.errors]
var (
	// ErrFrameTooLarge reports a frame whose length exceeds the link's
	// maximum, either declared by a received header (r[wire.max]) or asked
	// of Permit.Alloc (r[link.tx.alloc.limits]). Errors returned by the
	// engines wrap it in a *FrameTooLargeError that carries both sizes.
	ErrFrameTooLarge = errors.New("framelink: frame too large")

	// ErrClosed is returned by operations on a link, half or server that
	// was closed locally. It wraps net.ErrClosed, so errors.Is(err,
	// net.ErrClosed) also holds.
	ErrClosed = fmt.Errorf("framelink: link closed: %w", net.ErrClosed)

	// ErrPermitUsed is returned when a Permit or Slot is used after it was
	// already consumed: Alloc twice, Commit twice, Commit after Discard,
	// Release after Alloc. Nothing is published when it is returned.
	ErrPermitUsed = errors.New("framelink: permit or slot already used")

	// ErrNegativeSize is returned by Permit.Alloc for n < 0.
	ErrNegativeSize = errors.New("framelink: negative frame size")
)

// FrameTooLargeError is the concrete error for ErrFrameTooLarge: Size is
// the length declared or requested, Max the limit in force.
type FrameTooLargeError struct {
	Size uint64
	Max  uint32
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("framelink: frame too large: %d bytes, limit %d", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrFrameTooLarge) true.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }
