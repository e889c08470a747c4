package reliability

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Frames of the loss matrix. Stream s of a link sends frames seq = 0, 1, 2,
// ... whose length is a pure function of (stream, seq, max). A frame of at
// least tagSize bytes is self-describing:
//
//	[stream u32][seq u32][crc32 u32 of every other byte][random bytes]
//
// A shorter frame (0 to 11 bytes) is only ever sent by stream 0 of a link
// (the receiver attributes every short frame to stream 0) and holds the
// first len bytes of a pattern of seq.
const tagSize = 12

// mix is splitmix64: a cheap, good hash for deterministic choices.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// frameLen is the payload length of frame seq of stream, for a link whose
// maximum frame length is max (max >= tagSize).
func frameLen(stream, seq uint32, max int) int {
	h := mix(uint64(stream)<<32 | uint64(seq))
	r := h >> 8
	switch h % 64 {
	case 0, 1: // exactly the maximum
		return max
	case 2, 3, 4, 5: // empty (stream 0 only)
		if stream&0xff == 0 {
			return 0
		}
		return tagSize
	case 6, 7, 8, 9: // shorter than a tag (stream 0 only)
		if stream&0xff == 0 {
			return 1 + int(r%(tagSize-1))
		}
		return tagSize
	case 10, 11, 12, 13, 14, 15: // anything up to the maximum
		return tagSize + int(r%uint64(max-tagSize+1))
	case 16, 17, 18, 19, 20, 21, 22, 23: // a few KiB
		return min(max, tagSize+int(r%8192))
	default: // small
		return min(max, tagSize+int(r%300))
	}
}

// shortPattern is byte i of a short frame seq.
func shortPattern(seq uint32, i int) byte { return byte(seq*29 + uint32(i)*7 + 0x5b) }

// fillFrame writes frame (stream, seq) into b (len(b) == frameLen).
// Bytes past the tag are random, seeded by rnd.
func fillFrame(b []byte, stream, seq uint32, rnd uint64) {
	if len(b) < tagSize {
		for i := range b {
			b[i] = shortPattern(seq, i)
		}
		return
	}
	binary.LittleEndian.PutUint32(b, stream)
	binary.LittleEndian.PutUint32(b[4:], seq)
	x := rnd
	i := tagSize
	for ; i+8 <= len(b); i += 8 {
		x = mix(x)
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	x = mix(x)
	for ; i < len(b); i++ {
		b[i] = byte(x)
		x >>= 8
	}
	binary.LittleEndian.PutUint32(b[8:], frameCRC(b))
}

// frameCRC is the checksum of a tagged frame: every byte but the CRC.
func frameCRC(b []byte) uint32 {
	c := crc32.ChecksumIEEE(b[:8])
	return crc32.Update(c, crc32.IEEETable, b[tagSize:])
}

// A checker verifies, in arrival order, the frames of the streams of one
// link: every frame must be the next one of its stream, with the right
// length and an intact checksum.
type checker struct {
	max     int
	streams map[uint32]uint32 // stream id -> next seq expected
	frames  uint64
	bytes   uint64
}

func newChecker(max int, streams []uint32) *checker {
	c := &checker{max: max, streams: map[uint32]uint32{}}
	for _, s := range streams {
		c.streams[s] = 0
	}
	return c
}

// check verifies one received frame; the error names what is wrong.
func (c *checker) check(b []byte) error {
	var stream, seq uint32
	if len(b) < tagSize {
		stream = c.short()
		seq = c.streams[stream]
		if want := frameLen(stream, seq, c.max); len(b) != want {
			return fmt.Errorf("frame #%d: %d-byte frame where stream %#x seq %d (%d bytes) was expected: lost, duplicated, reordered or cut", c.frames, len(b), stream, seq, want)
		}
		for i := range b {
			if b[i] != shortPattern(seq, i) {
				return fmt.Errorf("frame #%d: short frame stream %#x seq %d corrupted at byte %d", c.frames, stream, seq, i)
			}
		}
	} else {
		stream = binary.LittleEndian.Uint32(b)
		seq = binary.LittleEndian.Uint32(b[4:])
		next, ok := c.streams[stream]
		if !ok {
			return fmt.Errorf("frame #%d (%d bytes): unknown stream %#x: corrupted or misdelivered", c.frames, len(b), stream)
		}
		switch {
		case seq < next:
			return fmt.Errorf("frame #%d: stream %#x seq %d again after %d: duplicated or reordered", c.frames, stream, seq, next-1)
		case seq > next:
			return fmt.Errorf("frame #%d: stream %#x seq %d, expected %d: %d frame(s) lost or reordered", c.frames, stream, seq, next, seq-next)
		}
		if want := frameLen(stream, seq, c.max); len(b) != want {
			return fmt.Errorf("frame #%d: stream %#x seq %d has %d bytes, want %d: boundaries broken", c.frames, stream, seq, len(b), want)
		}
		if got, want := binary.LittleEndian.Uint32(b[8:]), frameCRC(b); got != want {
			return fmt.Errorf("frame #%d: stream %#x seq %d (%d bytes): CRC %#x, computed %#x: corrupted", c.frames, stream, seq, len(b), got, want)
		}
	}
	c.streams[stream] = seq + 1
	c.frames++
	c.bytes += uint64(len(b))
	return nil
}

// short returns the stream that sends short frames: the one whose low
// byte is 0.
func (c *checker) short() uint32 {
	for s := range c.streams {
		if s&0xff == 0 {
			return s
		}
	}
	return ^uint32(0)
}

// finish checks that every stream got exactly committed[stream] frames.
func (c *checker) finish(committed map[uint32]uint32) error {
	for s, n := range committed {
		if got := c.streams[s]; got != n {
			return fmt.Errorf("stream %#x: received %d frames, %d were committed: %d lost", s, got, n, int64(n)-int64(got))
		}
	}
	return nil
}
