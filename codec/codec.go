// Package codec is the framelink wire format: every frame is
// [len: u32 little-endian][payload: len bytes], nothing else (r[wire.frame]).
//
// The decoder is incremental in the shape of bufio.SplitFunc: Split looks
// at whatever bytes it is given (a gnet Peek, a netpoll Next window, a read
// buffer) and reports the first whole frame, or how many bytes it needs. The
// maximum frame length is checked on the 4 header bytes before anything is
// allocated or buffered (r[wire.max]).
package codec

import (
	"encoding/binary"

	"github.com/framelink/framelink"
)

// HeaderSize is the length of the frame header.
const HeaderSize = 4

// PutHeader writes the header for an n-byte payload into b[:4].
// r[impl wire.frame]
func PutHeader(b []byte, n uint32) { binary.LittleEndian.PutUint32(b, n) }

// AppendFrame appends the frame for payload p to dst.
func AppendFrame(dst, p []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...)
}

// CheckSize returns a *framelink.FrameTooLargeError if a payload of n bytes
// exceeds max, else nil.
func CheckSize(n uint64, max uint32) error {
	if n > uint64(max) {
		return &framelink.FrameTooLargeError{Size: n, Max: max}
	}
	return nil
}

// Split reports the first frame in window under the limit max
// (r[wire.max]).
//
//   - A whole frame: payload is its bytes (a subslice of window, valid as
//     long as window is), advance is HeaderSize+len(payload), need is 0.
//     An empty payload is a valid frame (r[wire.empty]): payload is
//     non-nil and empty.
//   - Not enough bytes: payload is nil, advance 0, and need is the total
//     number of bytes the window must hold before the frame is whole
//     (HeaderSize while the header itself is incomplete).
//   - A header declaring more than max: err matches
//     framelink.ErrFrameTooLarge and nothing should be buffered further.
func Split(window []byte, max uint32) (payload []byte, advance, need int, err error) {
	if len(window) < HeaderSize {
		return nil, 0, HeaderSize, nil
	}
	n := binary.LittleEndian.Uint32(window)
	if n > max {
		return nil, 0, 0, &framelink.FrameTooLargeError{Size: uint64(n), Max: max}
	}
	total := HeaderSize + int(n)
	if len(window) < total {
		return nil, 0, total, nil
	}
	return window[HeaderSize:total:total], total, 0, nil
}
