package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// chunky returns the stream in reads of varying sizes, with a deadline
// error injected every few reads (a context interrupt in netstd).
type chunky struct {
	b    []byte
	i    int
	tick int
}

func (c *chunky) Read(p []byte) (int, error) {
	c.tick++
	if c.tick%5 == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), 1+(c.i*7919)%40000, len(c.b))
	c.i++
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// NextView yields the same frames as Next, survives read timeouts, and
// each view stays intact until the next call.
func TestNextViewTimeouts(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := range 300 {
		n := (i * 131) % 3000
		if i%17 == 0 {
			n = 50000 + i // larger than the read buffer
		}
		p := bytes.Repeat([]byte{byte(i)}, n)
		want = append(want, p)
		stream = binary.LittleEndian.AppendUint32(stream, uint32(n))
		stream = append(stream, p...)
	}
	for _, view := range []bool{false, true} {
		rd := NewReader(&chunky{b: stream}, 1<<20)
		for i := 0; i < len(want); {
			var p []byte
			var err error
			if view {
				p, err = rd.NextView()
			} else {
				p, err = rd.Next()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				t.Fatalf("view=%v frame %d: %v", view, i, err)
			}
			if !bytes.Equal(p, want[i]) {
				t.Fatalf("view=%v frame %d differs", view, i)
			}
			i++
		}
		var err error
		for errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
			_, err = rd.NextView()
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("view=%v end: %v", view, err)
		}
	}
}

func TestNextViewTruncated(t *testing.T) {
	rd := NewReader(iotest.OneByteReader(bytes.NewReader([]byte{2, 0, 0, 0, 'a'})), 100)
	if _, err := rd.NextView(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}
