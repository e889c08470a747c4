package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// decodeWhole decodes stream with Split in one window.
func decodeWhole(stream []byte, max uint32) (frames [][]byte, rest int, err error) {
	for {
		p, adv, _, err := Split(stream, max)
		if err != nil || adv == 0 {
			return frames, len(stream), err
		}
		frames = append(frames, p)
		stream = stream[adv:]
	}
}

// chunked is an io.Reader that hands out stream in the chunk sizes the
// fuzzer chose.
type chunked struct {
	data   []byte
	chunks []byte
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = int(c.chunks[0])%len(c.data) + 1
		c.chunks = c.chunks[1:]
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzDecodeChunked: the decoder fed the same stream in fuzzer-chosen
// chunks produces the same frames, and the same ending, as fed whole.
// r[verify wire.frame] r[verify wire.truncated] r[verify wire.eof] r[verify wire.max]
func FuzzDecodeChunked(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte("hello")), nil), []byte{0, 1, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte{0})
	f.Add([]byte{3, 0, 0, 0, 'a'}, []byte{1, 1, 1})
	f.Add(bytes.Repeat([]byte{1, 0, 0, 0, 'x'}, 50), []byte{7, 3, 250})
	const max = 300
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		want, rest, wantErr := decodeWhole(stream, max)
		rd := NewReader(&chunked{data: stream, chunks: chunks}, max)
		for i := 0; ; i++ {
			p, err := rd.Next()
			if err != nil {
				if i != len(want) {
					t.Fatalf("reader ended after %d frames, Split found %d (err %v)", i, len(want), err)
				}
				switch {
				case wantErr != nil:
					if !errors.Is(err, framelink.ErrFrameTooLarge) {
						t.Fatalf("want ErrFrameTooLarge, got %v", err)
					}
				case rest == 0:
					if err != io.EOF {
						t.Fatalf("stream ends on a boundary: want io.EOF, got %v", err)
					}
				default:
					if err != io.ErrUnexpectedEOF {
						t.Fatalf("stream ends inside a frame: want io.ErrUnexpectedEOF, got %v", err)
					}
				}
				return
			}
			if i >= len(want) || !bytes.Equal(p, want[i]) {
				t.Fatalf("frame %d differs", i)
			}
			pool.Put(p)
		}
	})
}

// FuzzRoundTrip: decode(encode(x)) == x for any list of payloads.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("a\x00bc\x00\x00def"))
	f.Fuzz(func(t *testing.T, joined []byte) {
		payloads := bytes.Split(joined, []byte{0})
		var stream []byte
		for _, p := range payloads {
			stream = AppendFrame(stream, p)
		}
		got, rest, err := decodeWhole(stream, uint32(len(joined)))
		if err != nil || rest != 0 || len(got) != len(payloads) {
			t.Fatalf("decoded %d of %d frames, rest %d, err %v", len(got), len(payloads), rest, err)
		}
		for i := range got {
			if !bytes.Equal(got[i], payloads[i]) {
				t.Fatalf("frame %d differs", i)
			}
			if binary.LittleEndian.Uint32(stream) != uint32(len(payloads[0])) {
				t.Fatal("header is not the little-endian length")
			}
		}
	})
}
