//go:build unix

package gnet

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

// BenchmarkServeEcho: a raw TCP client against Serve's echo, one frame in
// flight; allocations are the server's (the client's socket I/O does not
// allocate). r[verify perf.alloc]
func BenchmarkServeEcho(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(sizeName(size), func(b *testing.B) {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.BatchEchoHandler{}, framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := make([]byte, 4+size)
			binary.LittleEndian.PutUint32(req, uint32(size))
			resp := make([]byte, 4+size)
			rt := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
			}
			for range 1000 {
				rt()
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rt()
			}
		})
	}
}

// BenchmarkLinkRoundTrip: a dialed gnet link against Serve's echo, one
// frame in flight, Send then Recv. r[verify perf.alloc]
func BenchmarkLinkRoundTrip(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(sizeName(size), func(b *testing.B) {
			ctx := context.Background()
			s, err := Serve("tcp", "127.0.0.1:0", framelink.BatchEchoHandler{}, framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(ctx)
			l, err := Dial(ctx, "tcp", s.Addr().String(), framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := make([]byte, size)
			rt := func() {
				if err := l.Tx().Send(ctx, p); err != nil {
					b.Fatal(err)
				}
				f, err := l.Rx().Recv(ctx)
				if err != nil {
					b.Fatal(err)
				}
				f.Release()
			}
			for range 1000 {
				rt()
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rt()
			}
		})
	}
}

// BenchmarkLinkPipelined: 16 frames committed per batch then 16 received:
// the batch leaves in one write, so gnet's per-flush cost is shared.
func BenchmarkLinkPipelined(b *testing.B) {
	ctx := context.Background()
	s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(ctx)
	l, err := Dial(ctx, "tcp", s.Addr().String(), framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 64)
	const inflight = 16
	round := func() {
		for range inflight {
			if err := l.Tx().Send(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		for range inflight {
			f, err := l.Rx().Recv(ctx)
			if err != nil {
				b.Fatal(err)
			}
			f.Release()
		}
	}
	for range 200 {
		round()
	}
	b.SetBytes(64 * inflight)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inflight), "ns/frame")
}

func sizeName(n int) string {
	if n >= 1024 {
		return itoa(n/1024) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
