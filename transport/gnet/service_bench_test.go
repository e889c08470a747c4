//go:build unix

package gnet

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"unsafe"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
)

// fakeGnetConn is the part of a gnet.Conn that a served connection's
// service run uses, over an in-memory input and a discarding output: the
// benchmarks below time framelink's own work per read event, without the
// syscalls (which are the same for framelink and the bare echo: one read
// and one write per event, measured with perf stat on the bench server).
type fakeGnetConn struct {
	gn.Conn // unimplemented methods panic
	in      []byte
	off     int
	out     int
	ctx     any

	rec     []byte // if non-nil, everything written is appended here
	inPlace int    // writes whose bytes were in[...] itself (echo.go)
	kicks   int    // loop wake-ups asked for

	keep    bool // writes stay in the outbound buffer (a peer that does not read)
	outBufd int  // what the outbound buffer holds
}

func (f *fakeGnetConn) record(b []byte) {
	if f.rec == nil {
		return
	}
	f.rec = append(f.rec, b...)
	if len(b) > 0 && len(f.in) > 0 {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(f.in)))
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if p >= lo && p < lo+uintptr(len(f.in)) {
			f.inPlace++
		}
	}
}

func (f *fakeGnetConn) Peek(n int) ([]byte, error) {
	if n <= 0 || n > len(f.in)-f.off {
		n = len(f.in) - f.off
	}
	return f.in[f.off : f.off+n], nil
}

func (f *fakeGnetConn) Discard(n int) (int, error) {
	if n > len(f.in)-f.off {
		// gnet would drop everything: the conn never means that.
		panic(fmt.Sprintf("Discard(%d) with %d bytes buffered", n, len(f.in)-f.off))
	}
	if n <= 0 {
		n = len(f.in) - f.off
	}
	f.off += n
	return n, nil
}

func (f *fakeGnetConn) Read(p []byte) (int, error) {
	n := copy(p, f.in[f.off:])
	f.off += n
	return n, nil
}

func (f *fakeGnetConn) InboundBuffered() int  { return len(f.in) - f.off }
func (f *fakeGnetConn) OutboundBuffered() int { return f.outBufd }

func (f *fakeGnetConn) Write(b []byte) (int, error) {
	f.record(b)
	f.out += len(b)
	if f.keep {
		f.outBufd += len(b)
	}
	return len(b), nil
}

func (f *fakeGnetConn) Fd() int              { return -1 }
func (f *fakeGnetConn) Context() any         { return f.ctx }
func (f *fakeGnetConn) SetContext(v any)     { f.ctx = v }
func (f *fakeGnetConn) LocalAddr() net.Addr  { return nil }
func (f *fakeGnetConn) RemoteAddr() net.Addr { return nil }

// AsyncWritev is how the conn wakes its loop (kickLocked); the tests
// run the loop themselves.
func (f *fakeGnetConn) AsyncWritev([][]byte, gn.AsyncCallback) error { f.kicks++; return nil }

func (f *fakeGnetConn) Writev(bs [][]byte) (n int, err error) {
	for _, b := range bs {
		f.record(b)
		n += len(b)
	}
	f.out += n
	if f.keep {
		f.outBufd += n
	}
	return n, nil
}

// eventInput is one read event's input: inflight frames of size bytes.
func eventInput(size, inflight int) []byte {
	var in []byte
	for range inflight {
		in = binary.LittleEndian.AppendUint32(in, uint32(size))
		in = append(in, make([]byte, size)...)
	}
	return in
}

// BenchmarkServiceEvent times one OnTraffic of a served echo connection
// with 16 frames buffered, against the hand-written gnet echo (bareEcho,
// the bench baseline's design) on the same input: the difference is
// framelink's CPU per frame on the loop (r[perf.overhead]). "framelink" is
// the bench's handler, framelink.BatchEchoHandler (one OnBatch and one
// EchoBatch per event); "framelink-per-frame" is framelink.EchoHandler
// (one OnFrame and one Echo per frame).
func BenchmarkServiceEvent(b *testing.B) {
	const inflight = 16
	for _, size := range []int{64, 4096} {
		in := eventInput(size, inflight)
		for _, h := range []struct {
			name string
			h    framelink.Handler
		}{{"framelink", framelink.BatchEchoHandler{}}, {"framelink-per-frame", framelink.EchoHandler{}}} {
			b.Run(h.name+"/"+sizeName(size), func(b *testing.B) {
				benchServiceEvent(b, h.h, in, size, inflight)
			})
		}
		b.Run("bare/"+sizeName(size), func(b *testing.B) {
			f := &fakeGnetConn{in: in}
			h := &bareEcho{}
			b.ReportAllocs()
			b.SetBytes(int64(size * inflight))
			for b.Loop() {
				f.off = 0
				if h.OnTraffic(f) != gn.None {
					b.Fatal("closed")
				}
			}
			if f.out != b.N*len(in) {
				b.Fatalf("echoed %d bytes, want %d", f.out, b.N*len(in))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inflight), "ns/frame")
		})
	}
}

// benchServiceEvent times OnTraffic of a connection served by h over in
// (inflight frames of size bytes).
func benchServiceEvent(b *testing.B, h framelink.Handler, in []byte, size, inflight int) {
	o, _ := framelink.Options{}.Normalize()
	e := newEngine(o, h, false)
	f := &fakeGnetConn{in: in}
	c := newConn(e, &e.opts, false)
	c.bind(f)
	b.ReportAllocs()
	b.SetBytes(int64(size * inflight))
	for b.Loop() {
		f.off = 0
		if e.OnTraffic(f) != gn.None {
			b.Fatal("closed")
		}
	}
	if f.out != b.N*len(in) {
		b.Fatalf("echoed %d bytes, want %d", f.out, b.N*len(in))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inflight), "ns/frame")
}
