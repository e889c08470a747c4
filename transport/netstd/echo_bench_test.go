package netstd

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// BenchmarkEchoServer compares Serve with framelink.BatchEchoHandler against a
// bare hand-written netstd echo (4 KiB bufio reader and writer, flush when
// no input is buffered), driven by the same raw client: depth frames in
// flight per round, loopback TCP. Compare the framelink and bare lines of
// the same size and depth side by side (r[perf.overhead] is judged by the
// bench tool over many connections; this is the single-connection view).
func BenchmarkEchoServer(b *testing.B) {
	servers := []echoServer{
		{"framelink", startFramelink},
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
