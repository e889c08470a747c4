package reliability

import (
	"strings"
	"testing"
)

// TestCheckerCatches: the loss checker itself fails on a lost, duplicated,
// reordered, cut or corrupted frame (so a green matrix means something).
func TestCheckerCatches(t *testing.T) {
	const max = 4096
	streams := []uint32{0x100, 0x101}
	var frames [][]byte
	for seq := range uint32(40) {
		for _, s := range streams {
			b := make([]byte, frameLen(s, seq, max))
			fillFrame(b, s, seq, uint64(seq))
			frames = append(frames, b)
		}
	}
	run := func(fs [][]byte) error {
		c := newChecker(max, streams)
		for _, f := range fs {
			if err := c.check(f); err != nil {
				return err
			}
		}
		return c.finish(map[uint32]uint32{0x100: 40, 0x101: 40})
	}
	if err := run(frames); err != nil {
		t.Fatalf("intact stream rejected: %v", err)
	}
	sizes := map[int]bool{}
	for _, f := range frames {
		sizes[len(f)] = true
	}
	if !sizes[0] || !sizes[max] {
		t.Fatalf("frame sizes never hit 0 and max (%d sizes)", len(sizes))
	}
	clone := func() [][]byte { return append([][]byte(nil), frames...) }
	cases := map[string]func() [][]byte{
		"lost":       func() [][]byte { f := clone(); return append(f[:10], f[11:]...) },
		"lost last":  func() [][]byte { return clone()[:len(frames)-1] },
		"duplicated": func() [][]byte { f := clone(); return append(f[:11], f[10:]...) },
		"reordered": func() [][]byte {
			f := clone()
			f[20], f[22] = f[22], f[20] // same stream, two apart
			return f
		},
		"corrupted": func() [][]byte {
			f := clone()
			for i, b := range f {
				if len(b) > tagSize+1 {
					c := append([]byte(nil), b...)
					c[len(c)-1] ^= 1
					f[i] = c
					break
				}
			}
			return f
		},
		"cut": func() [][]byte {
			f := clone()
			for i, b := range f {
				if len(b) > tagSize+1 {
					f[i] = b[:len(b)-1]
					break
				}
			}
			return f
		},
	}
	for name, mk := range cases {
		err := run(mk())
		if err == nil {
			t.Errorf("%s: checker accepted it", name)
			continue
		}
		if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}
