//go:build unix

package gnet

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// echoLoad drives conns connections, each writing inflight frames of
// size bytes in one write and reading the echoes back, for total rounds
// spread over the connections.
func echoLoad(b *testing.B, addr net.Addr, conns, size, inflight int) {
	var wg sync.WaitGroup
	rounds := b.N/(conns*inflight) + 1
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	b.ResetTimer()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := make([]byte, 0, inflight*(4+size))
			for range inflight {
				req = binary.LittleEndian.AppendUint32(req, uint32(size))
				req = append(req, make([]byte, size)...)
			}
			resp := make([]byte, len(req))
			for range rounds {
				if _, err := c.Write(req); err != nil {
					return
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	for _, c := range cs {
		c.Close()
	}
}

// BenchmarkEchoLoad compares Serve's echo with a hand-written gnet echo
// (the bench baseline's design) under 64 connections × 16 frames in
// flight, in one process; the load generator's CPU is included, so
// ns/frame differences understate the server's.
func BenchmarkEchoLoad(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run("framelink/"+sizeName(size), func(b *testing.B) {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{Multicore: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			b.ReportAllocs()
			b.SetBytes(int64(size))
			echoLoad(b, s.Addr(), 64, size, 16)
		})
		b.Run("bare/"+sizeName(size), func(b *testing.B) {
			addr, stop := startBareEcho(b)()
			defer stop()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			echoLoad(b, addr, 64, size, 16)
		})
	}
}
