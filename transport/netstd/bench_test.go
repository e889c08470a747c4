package netstd

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/framelink/framelink"
)

var benchSizes = []int{64, 4 << 10, 64 << 10}

// echoLink answers every frame on l with the same bytes, written in place
// into a slot, until l ends.
func echoLink(l framelink.Link, done chan<- struct{}) {
	defer close(done)
	ctx := context.Background()
	for {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			return
		}
		pm, err := l.Tx().Reserve(ctx)
		if err != nil {
			f.Release()
			return
		}
		s, err := pm.Alloc(f.Len())
		if err != nil {
			f.Release()
			return
		}
		copy(s.Bytes(), f.Bytes())
		f.Release()
		if s.Commit() != nil {
			return
		}
	}
}

// BenchmarkRoundTripTCP: one frame out and its echo back over loopback
// TCP between two links, with context.Background and with one cancellable
// ctx used for every call. r[verify perf.alloc]
func BenchmarkRoundTripTCP(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) { benchRoundTrip(b, size, context.Background()) })
	}
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("cancelctx/%d", size), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			benchRoundTrip(b, size, ctx)
		})
	}
}

func benchRoundTrip(b *testing.B, size int, ctx context.Context) {
	c1, c2 := benchConnPair(b)
	a, err := NewLink(c1, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewLink(c2, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go echoLink(srv, done)
	roundTrips(b, ctx, a, size)
	a.Close()
	srv.Close()
	<-done
}

// roundTrips is the measured loop of the round-trip benchmarks: Send a
// size-byte frame on a, Recv its echo and Release it, per op; the timer is
// stopped on return.
func roundTrips(b *testing.B, ctx context.Context, a framelink.Link, size int) {
	p := make([]byte, size)
	b.ReportAllocs()
	b.SetBytes(int64(2 * size))
	for b.Loop() {
		if err := a.Tx().Send(ctx, p); err != nil {
			b.Fatal(err)
		}
		f, err := a.Rx().Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		f.Release()
	}
	b.StopTimer()
}

// BenchmarkServeRoundTripTCP: the same round trip against Serve with
// framelink.BatchEchoHandler (the push API the echo example runs).
func BenchmarkServeRoundTripTCP(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.BatchEchoHandler{}, framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			a, err := Dial(ctx, "tcp", s.Addr().String(), framelink.Options{})
			if err != nil {
				b.Fatal(err)
			}
			roundTrips(b, ctx, a, size)
			a.Close()
			s.Shutdown(ctx)
		})
	}
}

// BenchmarkSendVsSlot compares the two ways to send a payload that the
// caller produces (here: fills with a byte pattern): Send produces it in an
// owned buffer and copies it into the link; Reserve/Alloc/Commit produces
// it in place in the slot. "discard" writes to io.Discard (the CPU cost of
// the send path alone), "tcp" to a loopback peer that discards.
func BenchmarkSendVsSlot(b *testing.B) {
	produce := func(dst []byte, seed byte) {
		for i := range dst {
			dst[i] = seed
		}
	}
	for _, sink := range []string{"discard", "tcp"} {
		for _, size := range benchSizes {
			for _, mode := range []string{"Send", "Slot"} {
				b.Run(fmt.Sprintf("%s/%d/%s", sink, size, mode), func(b *testing.B) {
					l, wait := benchSink(b, sink)
					ctx := context.Background()
					own := make([]byte, size)
					b.ReportAllocs()
					b.SetBytes(int64(size))
					i := 0
					for b.Loop() {
						i++
						if mode == "Send" {
							produce(own, byte(i))
							if err := l.Tx().Send(ctx, own); err != nil {
								b.Fatal(err)
							}
							continue
						}
						pm, err := l.Tx().Reserve(ctx)
						if err != nil {
							b.Fatal(err)
						}
						s, err := pm.Alloc(size)
						if err != nil {
							b.Fatal(err)
						}
						produce(s.Bytes(), byte(i))
						if err := s.Commit(); err != nil {
							b.Fatal(err)
						}
					}
					if err := l.Tx().Close(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					wait()
					l.Close()
				})
			}
		}
	}
}

// benchSink returns a link whose output is discarded, and a function that
// waits until the discarding side has seen the end of stream.
func benchSink(b *testing.B, kind string) (framelink.Link, func()) {
	if kind == "discard" {
		pr, pw := io.Pipe() // an input that never delivers
		l, err := NewStreamLink(pr, io.Discard, multiCloser{pr, pw}, framelink.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return l, func() {}
	}
	c1, c2 := benchConnPair(b)
	l, err := NewLink(c1, framelink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	discarded := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c2)
		c2.Close()
		close(discarded)
	}()
	return l, func() { <-discarded }
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	for _, c := range m {
		c.Close()
	}
	return nil
}

func benchConnPair(b *testing.B) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c2 := <-ch
	if c2 == nil {
		b.Fatal("accept failed")
	}
	return c1, c2
}
