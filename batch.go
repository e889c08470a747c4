package framelink

import (
	"encoding/binary"
	"errors"
	"io"
	"iter"
	"math"
)

// batchHeader is the size of a frame's length header (codec.HeaderSize;
// the codec package imports this one).
const batchHeader = 4

// A Batch is a run of whole frames, in order, held as they are on the
// wire: each frame a 4-byte little-endian payload length followed by the
// payload. An engine hands a BatchHandler every whole frame that one read
// brought in as one Batch, usually straight from its input buffer.
//
// A Batch is a small value that does not own its bytes: one passed to
// OnBatch is valid only until OnBatch returns (copy what you keep), like
// OnFrame's payload. The zero Batch holds no frames. A Batch holds fewer
// than 2^32 frames.
type Batch struct {
	wire []byte
	// Four machine words in all: as five (n and largest as int), passing
	// a Batch through OnBatch and EchoBatch cost gnet's engine 40 ns more
	// per read event (BenchmarkServiceEvent, 124 against 84 ns).
	n       uint32
	largest uint32
}

// errBatchFrames is NewBatch's error for a run of 2^32 frames or more
// (at least 16 GiB).
var errBatchFrames = errors.New("framelink: batch of 2^32 frames or more")

// NewBatch checks that wire is a run of whole frames whose payloads are
// at most maxFrame bytes each and returns it as a Batch over the same
// memory (it does not copy). It is how a handler makes a Batch of its own
// to send with Conn.EchoBatch.
//
// The error is a *FrameTooLargeError (matching ErrFrameTooLarge) for a
// header that declares more than maxFrame, or io.ErrUnexpectedEOF if wire
// ends inside a frame (or an error if it holds 2^32 frames or more). It
// may be called from any goroutine.
func NewBatch(wire []byte, maxFrame uint32) (Batch, error) {
	return newBatch(wire, maxFrame, math.MaxUint32)
}

// newBatch is NewBatch for batches of at most maxFrames frames.
func newBatch(wire []byte, maxFrame, maxFrames uint32) (Batch, error) {
	b := cutBatch(wire, maxFrame, len(wire), maxFrames)
	if b.n == maxFrames && len(b.wire) < len(wire) {
		return Batch{}, errBatchFrames
	}
	if off := len(b.wire); off < len(wire) {
		if len(wire)-off >= batchHeader {
			if n := binary.LittleEndian.Uint32(wire[off:]); n > maxFrame {
				return Batch{}, &FrameTooLargeError{Size: uint64(n), Max: maxFrame}
			}
		}
		return Batch{}, io.ErrUnexpectedEOF
	}
	return b, nil
}

// CutBatch returns the run of whole frames at the start of wire as a
// Batch over the same memory, and is how engines build what they pass to
// OnBatch: len(b.Bytes()) is how much of wire it took. It stops before a
// frame that is incomplete, whose header declares more than maxFrame, or
// that would take the batch past limit bytes; a whole first frame is
// taken whatever limit says, and a batch ends after 2^32-1 frames. It may
// be called from any goroutine.
func CutBatch(wire []byte, maxFrame uint32, limit int) Batch {
	return cutBatch(wire, maxFrame, limit, math.MaxUint32)
}

// cutBatch is CutBatch for batches of at most maxFrames frames.
func cutBatch(wire []byte, maxFrame uint32, limit int, maxFrames uint32) Batch {
	off, n, largest := 0, uint32(0), uint32(0)
	for len(wire)-off >= batchHeader && n < maxFrames {
		size := binary.LittleEndian.Uint32(wire[off:])
		end := off + batchHeader + int(size)
		if size > maxFrame || end > len(wire) || end < off || (end > limit && n > 0) {
			break
		}
		off = end
		n++
		largest = max(largest, size)
	}
	return Batch{wire: wire[:off:off], n: n, largest: largest}
}

// Len returns the number of frames in b.
func (b Batch) Len() int { return int(b.n) }

// Bytes returns b's frames as they are on the wire, headers included. The
// slice is b's own memory: valid as long as b is, not to be modified.
func (b Batch) Bytes() []byte { return b.wire }

// Largest returns the length of b's largest payload (0 for an empty b).
func (b Batch) Largest() int { return int(b.largest) }

// All yields each frame's payload in order. A payload is a view into b's
// memory, valid as long as b is:
//
//	for payload := range b.All() { ... }
func (b Batch) All() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		w := b.wire
		for len(w) >= batchHeader {
			n := int(binary.LittleEndian.Uint32(w))
			p := w[batchHeader : batchHeader+n : batchHeader+n]
			w = w[batchHeader+n:]
			if !yield(p) {
				return
			}
		}
	}
}
