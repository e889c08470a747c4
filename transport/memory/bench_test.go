package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/memory"
)

var benchSizes = []int{64, 4 << 10, 64 << 10}

// runSizes runs body as a sub-benchmark for each of benchSizes, with a
// fresh pipe (x, y) closed at cleanup, ReportAllocs and SetBytes(n).
func runSizes(b *testing.B, body func(b *testing.B, n int, x, y framelink.Link)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x, y, err := memory.Pipe(framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { x.Close(); y.Close() })
			b.ReportAllocs()
			b.SetBytes(int64(n))
			body(b, n, x, y)
		})
	}
}

// BenchmarkRoundTrip: Send on one end, Recv and Release on the other, in
// one goroutine. Steady state: 0 allocs/op.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	runSizes(b, func(b *testing.B, n int, x, y framelink.Link) {
		p := make([]byte, n)
		for b.Loop() {
			if err := x.Tx().Send(ctx, p); err != nil {
				b.Fatal(err)
			}
			f, err := y.Rx().Recv(ctx)
			if err != nil {
				b.Fatal(err)
			}
			f.Release()
		}
	})
}

// BenchmarkSlotRoundTrip: Reserve, Alloc, write in place, Commit; Recv
// and Release. Compare with BenchmarkRoundTrip (Send copies p in).
func BenchmarkSlotRoundTrip(b *testing.B) {
	ctx := context.Background()
	runSizes(b, func(b *testing.B, n int, x, y framelink.Link) {
		for b.Loop() {
			pm, err := x.Tx().Reserve(ctx)
			if err != nil {
				b.Fatal(err)
			}
			s, err := pm.Alloc(n)
			if err != nil {
				b.Fatal(err)
			}
			s.Bytes()[0] = 1
			if err := s.Commit(); err != nil {
				b.Fatal(err)
			}
			f, err := y.Rx().Recv(ctx)
			if err != nil {
				b.Fatal(err)
			}
			f.Release()
		}
	})
}

// BenchmarkStream: one goroutine sends, another receives, with the
// default water marks; measures throughput through the pipe.
func BenchmarkStream(b *testing.B) {
	ctx := context.Background()
	runSizes(b, func(b *testing.B, n int, x, y framelink.Link) {
		p := make([]byte, n)
		done := make(chan error, 1)
		count := b.N
		go func() {
			for range count {
				f, err := y.Rx().Recv(ctx)
				if err != nil {
					done <- err
					return
				}
				f.Release()
			}
			done <- nil
		}()
		for range count {
			if err := x.Tx().Send(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}
