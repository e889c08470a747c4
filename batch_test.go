package framelink_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/framelink/framelink"
)

func wire(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func payloads(b framelink.Batch) []string {
	var out []string
	for p := range b.All() {
		out = append(out, string(p))
	}
	return out
}

// r[verify wire.frame] r[verify wire.empty] r[verify wire.max] r[verify wire.truncated]
func TestNewBatch(t *testing.T) {
	w := wire("ab", "", "cde")
	b, err := framelink.NewBatch(w, 16)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 || b.Largest() != 3 || !bytes.Equal(b.Bytes(), w) {
		t.Fatalf("Len %d Largest %d Bytes %q", b.Len(), b.Largest(), b.Bytes())
	}
	if got := fmt.Sprint(payloads(b)); got != "[ab  cde]" {
		t.Fatalf("payloads %s", got)
	}
	if &b.Bytes()[0] != &w[0] {
		t.Fatal("NewBatch copied its input")
	}

	if _, err := framelink.NewBatch(w, 2); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("a 3-byte frame against a 2-byte limit: %v", err)
	} else if fe := (*framelink.FrameTooLargeError)(nil); !errors.As(err, &fe) || fe.Size != 3 || fe.Max != 2 {
		t.Fatalf("error %#v", err)
	}
	for cut := 1; cut < len(w); cut++ {
		whole := cut == 6 || cut == 10 // after "ab", after ""
		_, err := framelink.NewBatch(w[:cut], 16)
		if whole && err != nil || !whole && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("NewBatch of the first %d bytes: %v", cut, err)
		}
	}
	empty, err := framelink.NewBatch(nil, 16)
	if err != nil || empty.Len() != 0 || len(payloads(empty)) != 0 {
		t.Fatalf("empty: %v, Len %d", err, empty.Len())
	}
	var zero framelink.Batch
	if zero.Len() != 0 || zero.Bytes() != nil || zero.Largest() != 0 || len(payloads(zero)) != 0 {
		t.Fatal("the zero Batch is not empty")
	}
}

func TestCutBatch(t *testing.T) {
	w := wire("aaaa", "bb", "c", "dddddd")
	for _, tc := range []struct {
		name   string
		wire   []byte
		max    uint32
		limit  int
		frames string
	}{
		{"all", w, 16, len(w), "[aaaa bb c dddddd]"},
		{"limit between frames", w, 16, 19, "[aaaa bb c]"},
		{"limit inside a frame", w, 16, 18, "[aaaa bb]"},
		{"a first frame over the limit is taken", w, 16, 3, "[aaaa]"},
		{"negative limit", w, 16, -1, "[aaaa]"},
		{"stops before an incomplete frame", w[:len(w)-1], 16, 1 << 20, "[aaaa bb c]"},
		{"stops before an incomplete header", w[:len(w)-8], 16, 1 << 20, "[aaaa bb c]"},
		{"stops before a frame over max", w, 5, 1 << 20, "[aaaa bb c]"},
		{"nothing whole", w[:5], 16, 1 << 20, "[]"},
		{"first frame over max", w, 3, 1 << 20, "[]"},
	} {
		b := framelink.CutBatch(tc.wire, tc.max, tc.limit)
		if got := fmt.Sprint(payloads(b)); got != tc.frames {
			t.Errorf("%s: frames %s, want %s", tc.name, got, tc.frames)
		}
		if b.Len() != len(payloads(b)) {
			t.Errorf("%s: Len %d", tc.name, b.Len())
		}
		// Bytes is the prefix of wire it took, in place.
		if n := len(b.Bytes()); n > 0 && (&b.Bytes()[0] != &tc.wire[0] || !bytes.Equal(b.Bytes(), tc.wire[:n])) {
			t.Errorf("%s: Bytes is not a prefix of wire", tc.name)
		}
		// Appending to Bytes never writes into the rest of wire.
		if n := len(b.Bytes()); n < len(tc.wire) && cap(b.Bytes()) != n {
			t.Errorf("%s: Bytes has capacity %d beyond its %d bytes", tc.name, cap(b.Bytes()), n)
		}
	}
}

func TestBatchAllStops(t *testing.T) {
	b, err := framelink.NewBatch(wire("a", "b", "c"), 16)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for p := range b.All() {
		seen = append(seen, string(p))
		if len(seen) == 2 {
			break
		}
	}
	if fmt.Sprint(seen) != "[a b]" {
		t.Fatalf("seen %v", seen)
	}
	// A payload's capacity ends with it: appending cannot overwrite the
	// next frame.
	for p := range b.All() {
		if cap(p) != len(p) {
			t.Fatalf("payload %q has capacity %d", p, cap(p))
		}
	}
}

func FuzzCutBatch(f *testing.F) {
	f.Add(wire("ab", "", "cde"), uint16(16), 7)
	f.Add([]byte{255, 255, 255, 255, 1}, uint16(16), 100)
	f.Fuzz(func(t *testing.T, w []byte, max uint16, limit int) {
		b := framelink.CutBatch(w, uint32(max), limit)
		n, total, largest := 0, 0, 0
		for p := range b.All() {
			n++
			total += 4 + len(p)
			largest = maxInt(largest, len(p))
			if len(p) > int(max) {
				t.Fatalf("payload of %d over max %d", len(p), max)
			}
		}
		if n != b.Len() || total != len(b.Bytes()) || largest != b.Largest() {
			t.Fatalf("Len %d/%d bytes %d/%d largest %d/%d", b.Len(), n, len(b.Bytes()), total, b.Largest(), largest)
		}
		if n > 1 && total > limit {
			t.Fatalf("%d frames, %d bytes over the limit %d", n, total, limit)
		}
		// NewBatch accepts exactly what CutBatch takes whole.
		if _, err := framelink.NewBatch(b.Bytes(), uint32(max)); err != nil {
			t.Fatalf("NewBatch of what CutBatch took: %v", err)
		}
		if limit >= len(w) {
			if _, err := framelink.NewBatch(w, uint32(max)); (err == nil) != (len(b.Bytes()) == len(w)) {
				t.Fatalf("NewBatch(w): %v, CutBatch took %d of %d bytes", err, len(b.Bytes()), len(w))
			}
		}
	})
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// A BatchHandler takes the whole frames of one read at once; EchoBatch
// answers them in one call (on gnet, written straight from its input
// buffer). Its methods work on any batch, such as one made with NewBatch.
func ExampleBatch() {
	in := []byte{
		2, 0, 0, 0, 'h', 'i',
		0, 0, 0, 0,
		3, 0, 0, 0, 'y', 'o', 'u',
	}
	b, err := framelink.NewBatch(in, framelink.DefaultMaxFrame)
	if err != nil {
		panic(err)
	}
	fmt.Println(b.Len(), "frames,", len(b.Bytes()), "bytes, largest", b.Largest())
	for payload := range b.All() {
		fmt.Printf("%q\n", payload)
	}
	// Output:
	// 3 frames, 17 bytes, largest 3
	// "hi"
	// ""
	// "you"
}
