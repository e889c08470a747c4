//go:build unix

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Payload layout. Every frame the load generator sends has a payload that
// is a pure function of (connection id, sequence number, size):
//
//	[0:8)   sequence number, u64 little-endian
//	[8:12)  connection id, u32 little-endian
//	[12:)   bytes of a fixed pseudo-random pattern, starting at an offset
//	        that depends on the connection id and the sequence number
//
// truncated to the frame size. A flipped byte, a frame from another
// connection, a duplicate, a reordering or a missing frame all make the
// echoed payload differ from the expected one. Generating is a copy and
// checking is a bytes.Equal (memcmp), so verifying every byte stays cheap
// next to the syscalls.

const payloadHeader = 12

// patternLen is the length of the shared pattern; offsets are drawn from
// [0, patternLen) and patternLen more bytes follow for the largest frame.
const patternLen = 1 << 16

// pattern holds 2*patternLen bytes so any offset below patternLen has at
// least patternLen bytes after it. Frames longer than that repeat it.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(0x6672616d656c696e, 0x6b2062656e6368))
	b := make([]byte, 2*patternLen)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// patternOffset mixes the connection id and sequence number (splitmix64
// finaliser) into a pattern offset.
func patternOffset(conn uint32, seq uint64) int {
	z := seq*0x9e3779b97f4a7c15 + uint64(conn)<<32 + uint64(conn)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int(z % patternLen)
}

// fillPayload writes the expected payload for (conn, seq) into dst; its
// length is the frame size.
func fillPayload(dst []byte, conn uint32, seq uint64) {
	var hdr [payloadHeader]byte
	binary.LittleEndian.PutUint64(hdr[0:8], seq)
	binary.LittleEndian.PutUint32(hdr[8:12], conn)
	n := copy(dst, hdr[:])
	rest := dst[n:]
	off := patternOffset(conn, seq)
	for len(rest) > 0 {
		c := copy(rest, pattern[off:off+patternLen])
		rest = rest[c:]
		off = 0
	}
}

// verifyPayload reports whether got is exactly the payload fillPayload
// would write for (conn, seq) at len(got) bytes, and if not, where they
// first differ.
func verifyPayload(got []byte, conn uint32, seq uint64) error {
	var hdr [payloadHeader]byte
	binary.LittleEndian.PutUint64(hdr[0:8], seq)
	binary.LittleEndian.PutUint32(hdr[8:12], conn)
	h := min(len(got), payloadHeader)
	if !bytes.Equal(got[:h], hdr[:h]) {
		if h >= payloadHeader {
			return fmt.Errorf("frame header mismatch: want conn %d seq %d, got conn %d seq %d",
				conn, seq, binary.LittleEndian.Uint32(got[8:12]), binary.LittleEndian.Uint64(got[0:8]))
		}
		return fmt.Errorf("frame header mismatch at conn %d seq %d", conn, seq)
	}
	rest := got[h:]
	off := patternOffset(conn, seq)
	pos := h
	for len(rest) > 0 {
		want := pattern[off : off+min(len(rest), patternLen)]
		if !bytes.Equal(rest[:len(want)], want) {
			for i := range want {
				if rest[i] != want[i] {
					return fmt.Errorf("payload byte %d differs at conn %d seq %d: got %#02x want %#02x",
						pos+i, conn, seq, rest[i], want[i])
				}
			}
		}
		rest = rest[len(want):]
		pos += len(want)
		off = 0
	}
	return nil
}
