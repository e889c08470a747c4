package codec

import (
	"bytes"
	"io"
	"testing"

	"github.com/framelink/framelink/pool"
)

// r[verify perf.alloc]
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{64, 4096, 65536} {
		b.Run(sizeName(n), func(b *testing.B) {
			p := make([]byte, n)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				buf := pool.Get(HeaderSize + n)
				PutHeader(buf, uint32(n))
				copy(buf[HeaderSize:], p)
				pool.Put(buf)
			}
		})
	}
}

// BenchmarkDecode decodes a stream of n-byte frames through a Reader in
// 16 KiB reads, copying each frame into its own pool buffer.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{64, 4096, 65536} {
		b.Run(sizeName(n), func(b *testing.B) {
			var stream []byte
			for range 64 {
				stream = AppendFrame(stream, make([]byte, n))
			}
			src := bytes.NewReader(stream)
			rd := NewReader(src, 1<<20)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				p, err := rd.Next()
				if err == io.EOF {
					src.Reset(stream)
					rd.err = nil
					p, err = rd.Next()
				}
				if err != nil {
					b.Fatal(err)
				}
				pool.Put(p)
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	stream := AppendFrame(nil, make([]byte, 64))
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		if _, _, _, err := Split(stream, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkNextBatch decodes a stream of n-byte frames through a Reader
// in 16 KiB reads, a batch of every whole frame buffered at a time (up
// to 64 KiB); each op is one batch. The frames counted are per batch.
// r[verify perf.alloc]
func BenchmarkNextBatch(b *testing.B) {
	for _, n := range []int{64, 4096, 65536} {
		b.Run(sizeName(n), func(b *testing.B) {
			var stream []byte
			for range 64 {
				stream = AppendFrame(stream, make([]byte, n))
			}
			src := bytes.NewReader(stream)
			rd := NewReader(src, 1<<20)
			b.ReportAllocs()
			frames := 0
			for b.Loop() {
				bt, err := rd.NextBatch(64 << 10)
				if err == io.EOF {
					src.Reset(stream)
					rd.err = nil
					bt, err = rd.NextBatch(64 << 10)
				}
				if err != nil {
					b.Fatal(err)
				}
				frames += bt.Len()
			}
			b.SetBytes(int64(frames/max(b.N, 1)) * int64(n))
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
		})
	}
}
