package netstd

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// BenchmarkEchoServer compares Serve with framelink.EchoHandler against a
// bare hand-written netstd echo (4 KiB bufio reader and writer, flush when
// no input is buffered), driven by the same raw client: depth frames in
// flight per round, loopback TCP. Compare the framelink and bare lines of
// the same size and depth side by side (r[perf.overhead] is judged by the
// bench tool over many connections; this is the single-connection view).
func BenchmarkEchoServer(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) (addr string, stop func())
	}{
		{"framelink", func(b *testing.B) (string, func()) {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s.Addr().String(), func() { s.Shutdown(b.Context()) }
		}},
		{"bare", startBare},
	}
	for _, depth := range []int{1, 16} {
		for _, size := range benchSizes {
			for _, srv := range servers {
				b.Run(fmt.Sprintf("depth=%d/%d/%s", depth, size, srv.name), func(b *testing.B) {
					addr, stop := srv.start(b)
					defer stop()
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					req := make([]byte, 0, depth*(4+size))
					for range depth {
						req = append(req, byte(size), byte(size>>8), byte(size>>16), 0)
						req = append(req, make([]byte, size)...)
					}
					resp := make([]byte, len(req))
					b.ReportAllocs()
					b.SetBytes(int64(2 * depth * size))
					for b.Loop() {
						if _, err := c.Write(req); err != nil {
							b.Fatal(err)
						}
						if _, err := io.ReadFull(c, resp); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func startBare(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go bareEcho(c, &wg)
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}
