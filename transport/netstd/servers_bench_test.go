package netstd

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// echoServer is one of the echo servers the benchmarks compare: Serve
// with framelink.EchoHandler, or a bare hand-written netstd echo. start
// listens on 127.0.0.1 port 0 and returns the address and a stop function
// that closes the listener and every served connection (and, for the bare
// echo, waits for its goroutines); the benchmark goroutine calls both.
type echoServer struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

// startFramelink starts Serve with framelink.EchoHandler and default
// Options.
func startFramelink(b *testing.B) (string, func()) {
	s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s.Addr().String(), func() { s.Shutdown(b.Context()) }
}

// startBare starts the bare echo: a goroutine per connection with a
// 4 KiB bufio reader and writer (bareEcho).
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

// bareEcho echoes frames on c with the usual 4 KiB bufio reader and
// writer, flushing when no input is buffered; it owns c and closes it.
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
