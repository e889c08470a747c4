package framelink

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied for zero-valued Options fields.
const (
	DefaultMaxFrame  = 16 << 20 // r[impl wire.max]
	DefaultHighWater = 4 << 20  // r[impl link.tx.backpressure]
	DefaultLowWater  = 1 << 20
)

// Options configure one link or one server. The zero value means every
// default; Normalize validates once and fills the defaults in. Options are
// per instance: no engine keeps process-wide mutable settings.
type Options struct {
	// MaxFrame is the largest payload accepted or sent, in bytes, from 1
	// to 2^32-1. Zero means DefaultMaxFrame (16 MiB).
	MaxFrame uint32

	// HighWater and LowWater bound the bytes committed but not yet handed
	// to the kernel. When the queue exceeds HighWater, Reserve blocks (and
	// servers pause reading the connection) until it falls under LowWater.
	// Zero means the defaults (4 MiB, 1 MiB). LowWater must not exceed
	// HighWater.
	HighWater int
	LowWater  int

	// FrameTimeout bounds how long a frame whose first byte arrived may
	// take to arrive in full. IdleTimeout bounds how long a connection may
	// sit between frames. Zero means off. Servers only.
	// r[impl serve.timeouts]
	FrameTimeout time.Duration
	IdleTimeout  time.Duration

	// Multicore asks event-loop engines for one loop per CPU. Ignored by
	// engines without event loops.
	Multicore bool
}

// Normalize returns o with defaults filled in, or an error naming the first
// invalid field.
func (o Options) Normalize() (Options, error) {
	if o.MaxFrame == 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.HighWater < 0 || o.LowWater < 0 {
		return o, errors.New("framelink: negative water mark")
	}
	if o.HighWater == 0 {
		o.HighWater = DefaultHighWater
	}
	if o.LowWater == 0 {
		o.LowWater = min(DefaultLowWater, o.HighWater)
	}
	if o.LowWater > o.HighWater {
		return o, fmt.Errorf("framelink: low water %d above high water %d", o.LowWater, o.HighWater)
	}
	if o.FrameTimeout < 0 || o.IdleTimeout < 0 {
		return o, errors.New("framelink: negative timeout")
	}
	return o, nil
}
