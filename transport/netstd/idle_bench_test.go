package netstd

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// BenchmarkIdleConnMemory measures the memory an idle served connection
// costs (heap in use + goroutine stacks, per connection, client socket
// included), for Serve and for a bare echo with the usual 4 KiB bufio
// reader and writer per connection. Run with -benchtime=1x; compare the
// bytes/conn metrics side by side. r[verify perf.idle]
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 500
	b.Run("framelink", func(b *testing.B) {
		for b.Loop() {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			measureIdle(b, s.Addr().String(), conns)
			s.Shutdown(b.Context())
		}
	})
	b.Run("bare-bufio", func(b *testing.B) {
		for b.Loop() {
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
			measureIdle(b, ln.Addr().String(), conns)
			ln.Close()
			mu.Lock()
			for _, c := range open {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		}
	})
}

func bareEcho(c net.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriterSize(c, 4096)
	var h [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		n := binary.LittleEndian.Uint32(h[:])
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		w.Write(h[:])
		w.Write(buf)
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
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
