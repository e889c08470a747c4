package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// r[verify wire.frame]
func TestAppendFrameBytes(t *testing.T) {
	got := AppendFrame(nil, []byte("hi!"))
	want := []byte{3, 0, 0, 0, 'h', 'i', '!'}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = %x, want %x", got, want)
	}
	b := make([]byte, 4)
	PutHeader(b, 0x01020304)
	if !bytes.Equal(b, []byte{4, 3, 2, 1}) {
		t.Fatalf("PutHeader little-endian: got %x", b)
	}
}

// r[verify wire.empty] r[verify wire.max]
func TestSplit(t *testing.T) {
	stream := AppendFrame(AppendFrame(nil, nil), []byte("abc"))
	p, adv, need, err := Split(stream, 10)
	if err != nil || adv != 4 || need != 0 || p == nil || len(p) != 0 {
		t.Fatalf("empty frame: p=%v adv=%d need=%d err=%v", p, adv, need, err)
	}
	p, adv, _, err = Split(stream[adv:], 10)
	if err != nil || adv != 7 || string(p) != "abc" {
		t.Fatalf("second frame: %q %d %v", p, adv, err)
	}
	for i := range 4 {
		if p, adv, need, err := Split(stream[4:4+i], 10); p != nil || adv != 0 || need != 4 || err != nil {
			t.Fatalf("partial header %d: %v %d %d %v", i, p, adv, need, err)
		}
	}
	if _, _, need, _ := Split(stream[4:9], 10); need != 7 {
		t.Fatalf("partial payload: need %d, want 7", need)
	}
	// The limit is exact: max passes, max+1 fails on the header alone.
	hdr := binary.LittleEndian.AppendUint32(nil, 11)
	_, _, _, err = Split(hdr, 10)
	var tl *framelink.FrameTooLargeError
	if !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tl) || tl.Size != 11 || tl.Max != 10 {
		t.Fatalf("oversize: %v", err)
	}
	if _, _, need, err := Split(binary.LittleEndian.AppendUint32(nil, 10), 10); err != nil || need != 14 {
		t.Fatalf("at limit: need=%d err=%v", need, err)
	}
	if _, _, _, err := Split([]byte{0xff, 0xff, 0xff, 0xff}, 0xffffffff); err != nil {
		t.Fatalf("max uint32 limit must accept a 4 GiB header: %v", err)
	}
}

func readAll(t *testing.T, rd *Reader) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	for range 1_000_000 {
		p, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(p))
		pool.Put(p)
	}
	t.Fatal("reader did not end")
	return nil, nil
}

// r[verify wire.eof] r[verify wire.truncated]
func TestReaderEnds(t *testing.T) {
	var stream []byte
	for i := range 100 {
		stream = AppendFrame(stream, bytes.Repeat([]byte{byte(i)}, i*37))
	}
	for _, tc := range []struct {
		name string
		src  io.Reader
	}{
		{"whole", bytes.NewReader(stream)},
		{"onebyte", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half", iotest.HalfReader(bytes.NewReader(stream))},
		{"dataerr", iotest.DataErrReader(bytes.NewReader(stream))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := readAll(t, NewReader(tc.src, 1<<20))
			if err != io.EOF {
				t.Fatalf("end: %v, want io.EOF", err)
			}
			if len(frames) != 100 {
				t.Fatalf("got %d frames", len(frames))
			}
			for i, f := range frames {
				if len(f) != i*37 || (len(f) > 0 && f[0] != byte(i)) {
					t.Fatalf("frame %d wrong: len %d", i, len(f))
				}
			}
		})
	}
	for cut := 1; cut < 9; cut++ { // inside the header, then inside the payload
		full := AppendFrame(AppendFrame(nil, []byte("x")), []byte("hello"))
		frames, err := readAll(t, NewReader(bytes.NewReader(full[:len(full)-cut]), 100))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut %d: err %v, want io.ErrUnexpectedEOF", cut, err)
		}
		if len(frames) != 1 {
			t.Fatalf("cut %d: %d frames before the truncation", cut, len(frames))
		}
	}
}

// r[verify wire.max] r[verify link.rx.error]
func TestReaderOversizeIsSticky(t *testing.T) {
	stream := AppendFrame(nil, []byte("ok"))
	stream = append(stream, 0xff, 0xff, 0xff, 0xff) // 4 GiB header
	rd := NewReader(bytes.NewReader(stream), 1024)
	if p, err := rd.Next(); err != nil || string(p) != "ok" {
		t.Fatalf("first frame: %q %v", p, err)
	}
	for range 3 {
		if _, err := rd.Next(); !errors.Is(err, framelink.ErrFrameTooLarge) {
			t.Fatalf("want ErrFrameTooLarge, got %v", err)
		}
	}
}

func TestReaderLargeFrame(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), DefaultReadBuffer) // 10x the read buffer
	stream := AppendFrame(AppendFrame(AppendFrame(nil, []byte("a")), big), []byte("z"))
	frames, err := readAll(t, NewReader(iotest.HalfReader(bytes.NewReader(stream)), 1<<24))
	if err != io.EOF || len(frames) != 3 || !bytes.Equal(frames[1], big) || string(frames[2]) != "z" {
		t.Fatalf("large frame: n=%d err=%v", len(frames), err)
	}
	_, err = readAll(t, NewReader(bytes.NewReader(stream[:len(stream)-100]), 1<<24))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated large frame: %v", err)
	}
}

// lazySrc implements LazySource over a byte slice, counting buffers taken.
type lazySrc struct {
	data []byte
	gets int
}

func (l *lazySrc) Read(p []byte) (int, error) {
	if len(l.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.data[:min(len(l.data), 3)])
	l.data = l.data[n:]
	return n, nil
}

func (l *lazySrc) ReadLazy(get func() []byte) ([]byte, int, error) {
	if len(l.data) == 0 {
		return nil, 0, io.EOF
	}
	l.gets++
	b := get()
	n, err := l.Read(b)
	return b, n, err
}

func TestReaderLazySource(t *testing.T) {
	src := &lazySrc{data: AppendFrame(AppendFrame(nil, []byte("hello")), []byte("world"))}
	rd := NewReader(src, 100)
	frames, err := readAll(t, rd)
	if err != io.EOF || len(frames) != 2 || string(frames[1]) != "world" {
		t.Fatalf("frames %q err %v", frames, err)
	}
	if src.gets == 0 {
		t.Fatal("the lazy path was never used")
	}
	if rd.buf != nil {
		t.Fatal("idle reader still holds its read buffer")
	}
}
