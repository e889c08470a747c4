package framelink

import (
	"encoding/binary"
	"testing"
)

// benchWire is one read event of the bench's 64 B scenario: 16 frames of
// 64 bytes.
func benchWire() []byte {
	var in []byte
	for range 16 {
		in = binary.LittleEndian.AppendUint32(in, 64)
		in = append(in, make([]byte, 64)...)
	}
	return in
}

var sinkBatch Batch

// BenchmarkCutBatch times the engines' walk over a read event's frames;
// BenchmarkBareWalk is the same walk as the hand-written gnet echo
// (bench/baseline_gnet.go) writes it, for comparison.
func BenchmarkCutBatch(b *testing.B) {
	in := benchWire()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		sinkBatch = CutBatch(in, DefaultMaxFrame, 1<<20)
	}
	if sinkBatch.Len() != 16 {
		b.Fatalf("batch of %d frames, want 16", sinkBatch.Len())
	}
}

var sinkDone int

func BenchmarkBareWalk(b *testing.B) {
	in := benchWire()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		done := 0
		for len(in)-done >= 4 {
			n := int(binary.LittleEndian.Uint32(in[done:]))
			if n > DefaultMaxFrame || len(in)-done < 4+n {
				break
			}
			done += 4 + n
		}
		sinkDone = done
	}
	if sinkDone != len(in) {
		b.Fatalf("walked %d bytes, want %d", sinkDone, len(in))
	}
}
