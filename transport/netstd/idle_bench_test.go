package netstd

import (
	"io"
	"net"
	"runtime"
	"testing"
)

// BenchmarkIdleConnMemory measures the memory an idle served connection
// costs (heap in use + goroutine stacks, per connection, client socket
// included), for Serve and for a bare echo with the usual 4 KiB bufio
// reader and writer per connection. Run with -benchtime=1x; compare the
// bytes/conn metrics side by side. r[verify perf.idle]
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 500
	for _, srv := range []echoServer{
		{"framelink", startFramelink},
		{"bare-bufio", startBare},
	} {
		b.Run(srv.name, func(b *testing.B) {
			for b.Loop() {
				addr, stop := srv.start(b)
				measureIdle(b, addr, conns)
				stop()
			}
		})
	}
}

// measureIdle opens conns connections, makes one echo on each (so every
// server goroutine has run and gone idle), and reports the memory growth.
func measureIdle(b *testing.B, addr string, conns int) {
	before := memInUse()
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	msg := []byte{3, 0, 0, 0, 'a', 'b', 'c'}
	got := make([]byte, len(msg))
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
	after := memInUse()
	b.ReportMetric(float64(after-before)/float64(conns), "bytes/conn")
}

func memInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
