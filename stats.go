package framelink

import "sync/atomic"

// Stats is a snapshot of one link's counters (r[link.stats]).
type Stats struct {
	FramesIn    uint64 // frames received and delivered
	BytesIn     uint64 // payload bytes received
	FramesOut   uint64 // frames committed
	BytesOut    uint64 // payload bytes committed
	QueuedBytes int64  // bytes committed but not yet handed to the kernel
	Oversize    uint64 // frames rejected for exceeding the maximum
}

// Counters is the live, concurrency-safe form of Stats that engines embed.
// r[impl link.stats]
type Counters struct {
	FramesIn, BytesIn, FramesOut, BytesOut, Oversize atomic.Uint64
	Queued                                           atomic.Int64
}

// In counts one received frame of n payload bytes.
func (c *Counters) In(n int) { c.FramesIn.Add(1); c.BytesIn.Add(uint64(n)) }

// Out counts one committed frame of n payload bytes.
func (c *Counters) Out(n int) { c.FramesOut.Add(1); c.BytesOut.Add(uint64(n)) }

// Snapshot returns the current values.
func (c *Counters) Snapshot() Stats {
	return Stats{
		FramesIn:    c.FramesIn.Load(),
		BytesIn:     c.BytesIn.Load(),
		FramesOut:   c.FramesOut.Load(),
		BytesOut:    c.BytesOut.Load(),
		QueuedBytes: c.Queued.Load(),
		Oversize:    c.Oversize.Load(),
	}
}
