package linktest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/framelink/framelink"
)

// Self-describing frames: [sender u32][seq u32][pattern...], where the
// pattern and the length are functions of (sender, seq). A frame that was
// cut, merged with another, duplicated or interleaved fails check.

const tagSize = 8

// frameLen is the payload length of frame (g, seq): at least tagSize,
// varied so that boundaries land everywhere, now and then a few KiB.
func frameLen(g, seq uint32) int {
	h := g*2654435761 ^ seq*40503
	switch h % 16 {
	case 0:
		return tagSize + int(h>>8)%8192
	case 1, 2:
		return tagSize
	default:
		return tagSize + int(h>>8)%300
	}
}

// patternByte is byte i of every frame of sender g with sequence seq.
func patternByte(g, seq uint32, i int) byte {
	return byte(uint32(i)*7 + g*13 + seq*31 + 1)
}

// fillFrame writes frame (g, seq) into b, which must be frameLen(g, seq)
// long.
func fillFrame(b []byte, g, seq uint32) {
	binary.LittleEndian.PutUint32(b, g)
	binary.LittleEndian.PutUint32(b[4:], seq)
	for i := tagSize; i < len(b); i++ {
		b[i] = patternByte(g, seq, i)
	}
}

// makeFrame returns a new frame (g, seq).
func makeFrame(g, seq uint32) []byte {
	b := make([]byte, frameLen(g, seq))
	fillFrame(b, g, seq)
	return b
}

// checkFrame decodes a self-describing frame and reports what is wrong
// with it, if anything.
func checkFrame(b []byte) (g, seq uint32, err error) {
	if len(b) < tagSize {
		return 0, 0, fmt.Errorf("frame of %d bytes is shorter than its tag", len(b))
	}
	g = binary.LittleEndian.Uint32(b)
	seq = binary.LittleEndian.Uint32(b[4:])
	if want := frameLen(g, seq); len(b) != want {
		return g, seq, fmt.Errorf("frame (sender %d, seq %d) has %d bytes, want %d: boundaries not preserved", g, seq, len(b), want)
	}
	for i := tagSize; i < len(b); i++ {
		if b[i] != patternByte(g, seq, i) {
			return g, seq, fmt.Errorf("frame (sender %d, seq %d): byte %d is %#x, want %#x: frames interleaved or corrupted", g, seq, i, b[i], patternByte(g, seq, i))
		}
	}
	return g, seq, nil
}

// pattern returns n bytes derived from seed, for plain payloads.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131+i>>8) ^ seed
	}
	return b
}

// send sends p on l, failing the test on error.
func send(t *testing.T, ctx context.Context, l framelink.Link, p []byte) {
	t.Helper()
	if err := l.Tx().Send(ctx, p); err != nil {
		t.Fatalf("Send(%d bytes): %v", len(p), err)
	}
}

// sendSlot sends p through Reserve, Alloc, copy, Commit.
func sendSlot(ctx context.Context, l framelink.Link, p []byte) error {
	pm, err := l.Tx().Reserve(ctx)
	if err != nil {
		return fmt.Errorf("Tx.Reserve: %w", err)
	}
	s, err := pm.Alloc(len(p))
	if err != nil {
		return fmt.Errorf("Alloc(%d): %w", len(p), err)
	}
	if s.Len() != len(p) || len(s.Bytes()) != len(p) {
		s.Discard()
		return fmt.Errorf("Alloc(%d) returned a slot of %d bytes (r[link.tx.reserve])", len(p), len(s.Bytes()))
	}
	copy(s.Bytes(), p)
	if err := s.Commit(); err != nil {
		return fmt.Errorf("Slot.Commit: %w", err)
	}
	return nil
}

// sendFrames sends frames (g, 0) ... (g, n-1) on l, alternating Send and
// Reserve/Alloc/Commit so that both send paths interleave.
func sendFrames(ctx context.Context, l framelink.Link, g, n uint32) error {
	for seq := range n {
		var err error
		if seq%2 == 0 {
			err = l.Tx().Send(ctx, makeFrame(g, seq))
		} else {
			err = sendSlot(ctx, l, makeFrame(g, seq))
		}
		if err != nil {
			return fmt.Errorf("sender %d, frame %d: %w", g, seq, err)
		}
	}
	return nil
}

// recv receives one frame on l and returns a copy of its payload (the
// frame is released), failing the test on error.
func recv(t *testing.T, ctx context.Context, l framelink.Link) []byte {
	t.Helper()
	f, err := l.Rx().Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	p := append([]byte{}, f.Bytes()...)
	f.Release()
	return p
}

// expectFrame receives one frame and compares it with want.
func expectFrame(t *testing.T, ctx context.Context, l framelink.Link, want []byte) {
	t.Helper()
	got := recv(t, ctx, l)
	if !bytesEqual(got, want) {
		t.Fatalf("received %s, want %s", describe(got), describe(want))
	}
}

// expectEOF checks that Recv returns io.EOF n times in a row.
func expectEOF(t *testing.T, ctx context.Context, l framelink.Link, n int) {
	t.Helper()
	for i := range n {
		f, err := l.Rx().Recv(ctx)
		if err == nil {
			t.Fatalf("Recv #%d after the end of stream returned a frame of %d bytes, want io.EOF", i+1, f.Len())
		}
		if err != io.EOF && !errors.Is(err, io.EOF) {
			t.Fatalf("Recv #%d after the end of stream: %v, want io.EOF", i+1, err)
		}
	}
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describe prints a payload briefly.
func describe(p []byte) string {
	if len(p) <= 16 {
		return fmt.Sprintf("%d bytes %x", len(p), p)
	}
	return fmt.Sprintf("%d bytes %x…", len(p), p[:16])
}

// goErr runs f in a goroutine; the returned channel yields its error.
func goErr(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

// wait waits for c, bounded by ctx, and fails the test on a non-nil error.
func wait(t *testing.T, ctx context.Context, what string, c <-chan error) {
	t.Helper()
	select {
	case err := <-c:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s did not finish: %v", what, ctx.Err())
	}
}
