package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// batchStream is n frames of varying sizes (every 17th larger than the
// read buffer when big is set) and their payloads.
func batchStream(n int, big bool) (stream []byte, want [][]byte) {
	for i := range n {
		size := (i * 131) % 3000
		if big && i%17 == 0 {
			size = 50000 + i
		}
		p := bytes.Repeat([]byte{byte(i)}, size)
		want = append(want, p)
		stream = AppendFrame(stream, p)
	}
	return stream, want
}

// checkBatch checks b against the frames still expected (want) and
// limit, and returns how many frames it held. Its bytes must be exactly
// those frames on the wire; it goes past limit only with one frame.
func checkBatch(t *testing.T, b framelink.Batch, want [][]byte, limit int) int {
	t.Helper()
	if b.Len() < 1 {
		t.Fatalf("empty batch")
	}
	if b.Len() > len(want) {
		t.Fatalf("batch of %d frames, only %d left", b.Len(), len(want))
	}
	var wire []byte
	for _, p := range want[:b.Len()] {
		wire = AppendFrame(wire, p)
	}
	if !bytes.Equal(b.Bytes(), wire) {
		t.Fatalf("batch of %d frames differs from the stream", b.Len())
	}
	if len(b.Bytes()) > limit && b.Len() != 1 {
		t.Fatalf("batch of %d frames is %d bytes, over the limit %d", b.Len(), len(b.Bytes()), limit)
	}
	return b.Len()
}

// checkMaximal checks that the batch NextBatch just returned (n bytes)
// left no whole frame in the read buffer that would have fitted under
// limit: a batch is every whole frame buffered, up to limit.
func checkMaximal(t *testing.T, rd *Reader, n, limit int) {
	t.Helper()
	if rd.large != nil || rd.view != nil {
		return // a batch of one, read into its own buffer
	}
	rest := rd.buf[rd.r:rd.w]
	if len(rest) < HeaderSize {
		return
	}
	size := binary.LittleEndian.Uint32(rest)
	if size > rd.max {
		return
	}
	if total := HeaderSize + int(size); total <= len(rest) && n+total <= limit {
		t.Fatalf("batch of %d bytes stopped before a whole %d-byte frame within the limit %d", n, total, limit)
	}
}

// NextBatch over sources that return one byte, half, or all of what is
// asked, and a lazy source: the same frames as the stream, in batches
// within the limit that take every whole frame buffered; large frames come
// alone, behind their header; the end is io.EOF and the read buffer is
// back in the pool.
// r[verify wire.frame] r[verify wire.eof] r[verify wire.empty]
func TestNextBatchReaders(t *testing.T) {
	stream, want := batchStream(200, true)
	for _, tc := range []struct {
		name string
		src  func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"onebyte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"dataerr", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) }},
		{"lazy", func() io.Reader { return &lazySrc{data: stream} }},
	} {
		for _, limit := range []int{0, 100, 5000, 1 << 30} {
			t.Run(tc.name+"/"+itoa(limit), func(t *testing.T) {
				rd := NewReader(tc.src(), 1<<20)
				i, batches, multi := 0, 0, false
				for i < len(want) {
					b, err := rd.NextBatch(limit)
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					k := checkBatch(t, b, want[i:], limit)
					if len(want[i]) > DefaultReadBuffer && k != 1 {
						t.Fatalf("frame %d, larger than the read buffer, came with %d others", i, k-1)
					}
					if b.Largest() > DefaultReadBuffer && rd.view == nil {
						t.Fatal("a large frame's batch is not in a buffer of its own")
					}
					checkMaximal(t, rd, len(b.Bytes()), limit)
					i += k
					batches++
					multi = multi || k > 1
				}
				if _, err := rd.NextBatch(limit); err != io.EOF {
					t.Fatalf("end: %v, want io.EOF", err)
				}
				if rd.buf != nil || rd.large != nil || rd.view != nil {
					t.Fatal("the reader holds a buffer after the end")
				}
				if tc.name == "whole" && limit >= 5000 && !multi {
					t.Fatalf("%d batches of one frame each from whole reads", batches)
				}
			})
		}
	}
}

// The limit: a batch stops before the frame that would take it past
// limit bytes, but holds at least one frame; the frames it left are the
// next batch's, read without a read.
func TestNextBatchLimit(t *testing.T) {
	var stream []byte
	for range 10 {
		stream = AppendFrame(stream, make([]byte, 6)) // 10 bytes each
	}
	src := &countReader{r: bytes.NewReader(stream)}
	rd := NewReader(src, 100)
	for _, tc := range []struct{ limit, frames int }{
		{0, 1}, {-5, 1}, {9, 1}, {10, 1}, {19, 1}, {20, 2}, {35, 3},
	} {
		b, err := rd.NextBatch(tc.limit)
		if err != nil || b.Len() != tc.frames || len(b.Bytes()) != 10*tc.frames {
			t.Fatalf("limit %d: %d frames, %d bytes, %v; want %d frames", tc.limit, b.Len(), len(b.Bytes()), err, tc.frames)
		}
	}
	if src.reads != 1 {
		t.Fatalf("%d reads for frames that came in one", src.reads)
	}
	if _, err := rd.NextBatch(1000); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

type countReader struct {
	r     io.Reader
	reads int
}

func (c *countReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// A frame larger than the read buffer is a batch of one behind its
// header, in a buffer of its own; the frames before and after it come in
// batches of their own.
func TestNextBatchLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), DefaultReadBuffer)
	stream := AppendFrame(AppendFrame(AppendFrame(AppendFrame(nil, []byte("a")), []byte("b")), big), []byte("z"))
	rd := NewReader(iotest.HalfReader(bytes.NewReader(stream)), 1<<24)
	var got [][]byte
	var sizes []int
	for {
		b, err := rd.NextBatch(1 << 30)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.Len())
		if b.Largest() == len(big) {
			if b.Len() != 1 || len(b.Bytes()) != HeaderSize+len(big) || binary.LittleEndian.Uint32(b.Bytes()) != uint32(len(big)) {
				t.Fatalf("large frame: %d frames, %d bytes", b.Len(), len(b.Bytes()))
			}
			if cap(rd.view) != pool.Class(HeaderSize+len(big)) || &rd.view[0] != &b.Bytes()[0] {
				t.Fatal("large frame is not in a pool buffer of its own, header first")
			}
		}
		for p := range b.All() {
			got = append(got, bytes.Clone(p))
		}
	}
	if len(got) != 4 || string(got[0]) != "a" || string(got[1]) != "b" || !bytes.Equal(got[2], big) || string(got[3]) != "z" {
		t.Fatalf("got %d frames (batches %v)", len(got), sizes)
	}
	if sizes[len(sizes)-2] != 1 || sizes[len(sizes)-1] != 1 {
		t.Fatalf("batches %v: the large frame and the one after it come alone", sizes)
	}
}

// Truncation: inside a header or a payload, of a small or a large frame,
// the whole frames before come in batches, then io.ErrUnexpectedEOF,
// sticky, with every buffer given back.
// r[verify wire.truncated]
func TestNextBatchTruncated(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3*DefaultReadBuffer)
	for _, last := range [][]byte{[]byte("hello"), big} {
		full := AppendFrame(AppendFrame(nil, []byte("x")), last)
		for _, cut := range []int{1, 3, len(last), len(last) + 1, len(last) + 3} {
			for _, one := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(full[:len(full)-cut])
				if one {
					src = iotest.OneByteReader(src)
				}
				rd := NewReader(src, 1<<20)
				frames := 0
				var err error
				for {
					var b framelink.Batch
					if b, err = rd.NextBatch(1 << 20); err != nil {
						break
					}
					frames += b.Len()
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) || frames != 1 {
					t.Fatalf("len %d cut %d: %d frames, %v; want 1 frame and io.ErrUnexpectedEOF", len(last), cut, frames, err)
				}
				if _, err := rd.NextBatch(1 << 20); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("not sticky: %v", err)
				}
				if rd.buf != nil || rd.large != nil || rd.view != nil {
					t.Fatal("the reader holds a buffer after the error")
				}
			}
		}
	}
}

// An oversize header: the frames before it come first (a batch stops
// before it), then ErrFrameTooLarge, sticky, and nothing the size of the
// declared frame is allocated.
// r[verify wire.max]
func TestNextBatchOversize(t *testing.T) {
	const max = 1 << 20
	stream := AppendFrame(AppendFrame(nil, []byte("ok")), []byte("ok2"))
	stream = binary.LittleEndian.AppendUint32(stream, 1<<30) // 1 GiB header
	stream = append(stream, bytes.Repeat([]byte{1}, 100)...)
	rd := NewReader(bytes.NewReader(stream), max)
	b, err := rd.NextBatch(1 << 20)
	if err != nil || b.Len() != 2 {
		t.Fatalf("frames before: %d, %v", b.Len(), err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = rd.NextBatch(1 << 20)
	runtime.ReadMemStats(&after)
	var tl *framelink.FrameTooLargeError
	if !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tl) || tl.Size != 1<<30 || tl.Max != max {
		t.Fatalf("want ErrFrameTooLarge for 1 GiB, got %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<16 {
		t.Fatalf("%d bytes allocated for an oversize header", d)
	}
	if _, err := rd.NextBatch(1 << 20); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("not sticky: %v", err)
	}
	if rd.buf != nil {
		t.Fatal("the reader holds its read buffer after the error")
	}
}

// The end of stream on a frame boundary is io.EOF, also right at the
// start and after a large frame.
// r[verify wire.eof]
func TestNextBatchEOF(t *testing.T) {
	big := make([]byte, 2*DefaultReadBuffer)
	for _, stream := range [][]byte{nil, AppendFrame(nil, nil), AppendFrame(nil, big)} {
		rd := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 1<<20)
		frames := 0
		var err error
		for {
			var b framelink.Batch
			if b, err = rd.NextBatch(100); err != nil {
				break
			}
			frames += b.Len()
		}
		if err != io.EOF || (len(stream) > 0) != (frames == 1) {
			t.Fatalf("stream of %d bytes: %d frames, %v", len(stream), frames, err)
		}
	}
}

// NextBatch survives read timeouts (not sticky; the bytes read so far
// are kept), over small and large frames, like Next and NextView.
func TestNextBatchTimeouts(t *testing.T) {
	stream, want := batchStream(300, true)
	rd := NewReader(&chunky{b: stream}, 1<<20)
	timeouts := 0
	for i := 0; i < len(want); {
		b, err := rd.NextBatch(8000)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			continue
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		i += checkBatch(t, b, want[i:], 8000)
	}
	var err error
	for errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		_, err = rd.NextBatch(8000)
	}
	if !errors.Is(err, io.EOF) || timeouts == 0 {
		t.Fatalf("end: %v after %d timeouts", err, timeouts)
	}
}

// Mixed calls: a large frame begun by one kind of call and cut by a
// timeout is finished by another, and each hands it out in its own
// layout (Next: a whole pool buffer of the payload; NextView: the
// payload; NextBatch: header and payload).
func TestNextBatchMixedLarge(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefgh"), DefaultReadBuffer/2) // 2x the read buffer
	stream := AppendFrame(AppendFrame(nil, big), []byte("tail"))
	const (
		next = iota
		view
		batch
	)
	call := func(rd *Reader, how int) ([]byte, error) {
		switch how {
		case next:
			return rd.Next()
		case view:
			return rd.NextView()
		}
		b, err := rd.NextBatch(1 << 30)
		if err != nil {
			return nil, err
		}
		if b.Len() != 1 || binary.LittleEndian.Uint32(b.Bytes()) != uint32(b.Largest()) {
			return nil, errors.New("not a batch of one")
		}
		return b.Bytes()[HeaderSize:], nil
	}
	for first := range 3 {
		for second := range 3 {
			// The first Read brings the header and part of the frame, the
			// second times out, the rest is read by the second call.
			src := &scripted{data: stream, steps: []int{DefaultReadBuffer, -1}}
			rd := NewReader(src, 1<<20)
			if _, err := call(rd, first); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%d then %d: first call: %v, want a timeout", first, second, err)
			}
			if rd.large == nil {
				t.Fatalf("%d then %d: no large frame in progress", first, second)
			}
			p, err := call(rd, second)
			if err != nil || !bytes.Equal(p, big) {
				t.Fatalf("%d then %d: %d bytes, %v", first, second, len(p), err)
			}
			if second == next {
				if cap(p) != pool.Class(len(big)) || len(p) != len(big) {
					t.Fatalf("%d then Next: not a whole pool buffer (len %d cap %d)", first, len(p), cap(p))
				}
				pool.Put(p)
			}
			tail, err := call(rd, first)
			if err != nil || string(tail) != "tail" {
				t.Fatalf("%d then %d: tail %q %v", first, second, tail, err)
			}
			if first == next {
				pool.Put(tail)
			}
			if _, err := call(rd, second); err != io.EOF {
				t.Fatalf("%d then %d: end %v", first, second, err)
			}
		}
	}
}

// scripted reads data in the sizes of steps (-1: a timeout), then as
// asked.
type scripted struct {
	data  []byte
	steps []int
}

func (s *scripted) Read(p []byte) (int, error) {
	n := len(p)
	if len(s.steps) > 0 {
		n = s.steps[0]
		s.steps = s.steps[1:]
		if n < 0 {
			return 0, os.ErrDeadlineExceeded
		}
	}
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n = copy(p, s.data[:min(n, len(s.data), len(p))])
	s.data = s.data[n:]
	return n, nil
}

// The read buffer goes back to the pool once a batch emptied it: over a
// lazy source whose every read ends on a frame boundary, each read takes
// a fresh buffer (the Reader reads lazily only while it holds none).
// With -tags framelinkdebug a buffer given back too early would be
// poisoned under the batch, and a double release would panic.
// r[verify perf.idle]
func TestNextBatchReleasesBuffer(t *testing.T) {
	var stream []byte
	for i := range 50 {
		stream = AppendFrame(stream, bytes.Repeat([]byte{byte(i)}, i))
	}
	src := &frameLazy{data: stream}
	rd := NewReader(src, 1<<20)
	for i := 0; ; i++ {
		b, err := rd.NextBatch(1 << 20)
		if err == io.EOF {
			break
		}
		if err != nil || b.Len() != 1 || b.Largest() != i {
			t.Fatalf("frame %d: %d frames, largest %d, %v", i, b.Len(), b.Largest(), err)
		}
		for p := range b.All() {
			if !bytes.Equal(p, bytes.Repeat([]byte{byte(i)}, i)) {
				t.Fatalf("frame %d changed under the batch", i)
			}
		}
	}
	if src.gets != 50 {
		t.Fatalf("%d lazy reads took a buffer, want 50 (one per frame)", src.gets)
	}
	if rd.buf != nil {
		t.Fatal("idle reader still holds its read buffer")
	}
}

// frameLazy is a LazySource that returns one whole frame per read.
type frameLazy struct {
	data []byte
	gets int
}

func (l *frameLazy) Read(p []byte) (int, error) {
	panic("frameLazy: the Reader read without a lazy read")
}

func (l *frameLazy) ReadLazy(get func() []byte) ([]byte, int, error) {
	if len(l.data) == 0 {
		return nil, 0, io.EOF
	}
	l.gets++
	b := get()
	n := copy(b, l.data[:HeaderSize+int(binary.LittleEndian.Uint32(l.data))])
	l.data = l.data[n:]
	return b, n, nil
}

// timeoutChunked hands out data in the chunk sizes the fuzzer chose; a
// chunk of 0 is a read timeout.
type timeoutChunked struct {
	data   []byte
	chunks []byte
}

func (c *timeoutChunked) Read(p []byte) (int, error) {
	n := len(p)
	if len(c.chunks) > 0 {
		n = int(c.chunks[0])
		c.chunks = c.chunks[1:]
		if n == 0 {
			return 0, os.ErrDeadlineExceeded
		}
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n = copy(p, c.data[:min(n, len(c.data), len(p))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzNextBatchChunked: NextBatch, mixed with Next and NextView as the
// fuzzer chooses (ops), over a stream in fuzzer-chosen chunks with read
// timeouts, and a read buffer of fuzzer-chosen size (so that frames are
// larger than it), yields the frames Split finds, in batches within the
// limit that take every whole frame buffered, then the same ending; every
// buffer is back in the pool at the end.
// r[verify wire.frame] r[verify wire.truncated] r[verify wire.eof] r[verify wire.max]
func FuzzNextBatchChunked(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte("hello")), nil), []byte{0, 1, 2}, []byte{2}, uint16(20), uint8(8))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte{0}, []byte{2, 0}, uint16(0), uint8(0))
	f.Add([]byte{3, 0, 0, 0, 'a'}, []byte{1, 1, 0, 1}, []byte{2, 1}, uint16(1), uint8(1))
	f.Add(bytes.Repeat([]byte{1, 0, 0, 0, 'x'}, 50), []byte{7, 3, 250, 0, 9}, []byte{2, 2, 0, 1}, uint16(12), uint8(60))
	f.Add(AppendFrame(AppendFrame(nil, bytes.Repeat([]byte{9}, 200)), []byte("z")), []byte{30, 0, 30, 0, 200}, []byte{2, 0, 2, 1}, uint16(50), uint8(16))
	const max = 300
	f.Fuzz(func(t *testing.T, stream, chunks, ops []byte, limit16 uint16, bufSize uint8) {
		want, rest, wantErr := decodeWhole(stream, max)
		rd := NewReader(&timeoutChunked{data: stream, chunks: chunks}, max)
		rd.bufSize = HeaderSize + int(bufSize)
		limit := int(limit16)
		i := 0
		var err error
		for call := 0; ; call++ {
			op := byte(2)
			if len(ops) > 0 {
				op = ops[call%len(ops)] % 3
			}
			switch op {
			case 0, 1:
				var p []byte
				if op == 0 {
					p, err = rd.Next()
				} else {
					p, err = rd.NextView()
				}
				if err == nil {
					if i >= len(want) || !bytes.Equal(p, want[i]) {
						t.Fatalf("frame %d differs", i)
					}
					i++
					if op == 0 {
						pool.Put(p)
					}
				}
			default:
				var b framelink.Batch
				b, err = rd.NextBatch(limit)
				if err == nil {
					if i >= len(want) {
						t.Fatalf("batch after the last frame")
					}
					checkMaximal(t, rd, len(b.Bytes()), limit)
					i += checkBatch(t, b, want[i:], limit)
				}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				break
			}
		}
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
		if rd.buf != nil || rd.large != nil || rd.view != nil {
			t.Fatal("the reader holds a buffer after the end")
		}
	})
}
