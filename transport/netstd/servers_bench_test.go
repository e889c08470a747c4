package netstd

import (
	"context"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/internal/bareecho"
)

// echoServer is one of the echo servers the benchmarks compare: Serve
// with framelink.BatchEchoHandler, or a bare hand-written netstd echo. start
// listens on 127.0.0.1 port 0 and returns the address and a stop function
// that closes the listener and every served connection (and, for the bare
// echo, waits for its goroutines); the benchmark goroutine calls both.
type echoServer struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

// startFramelink starts Serve with framelink.BatchEchoHandler and default
// Options.
func startFramelink(b *testing.B) (string, func()) {
	s, err := Serve("tcp", "127.0.0.1:0", framelink.BatchEchoHandler{}, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s.Addr().String(), func() { s.Shutdown(b.Context()) }
}

// startBare starts the bare echo: bareecho.Netstd (the bench harness's
// netstd baseline), a goroutine per connection with a 4 KiB bufio reader
// and writer, flushing when no input is buffered.
func startBare(b *testing.B) (string, func()) {
	s, err := bareecho.StartNetstd("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return s.Addr().String(), func() { s.Shutdown(context.Background()) }
}
