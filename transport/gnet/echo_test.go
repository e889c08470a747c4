//go:build unix

package gnet

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/internal/servetest"
)

// Echo's in-place path (echo.go), checked on one read event over an
// in-memory gnet.Conn (fakeGnetConn): every byte written is recorded, and
// so is whether a write came straight from the input window.

// fakeServed is a served connection of h over f, as OnOpen would make it.
func fakeServed(h framelink.Handler, f *fakeGnetConn) *conn {
	return fakeServedWith(h, f, framelink.Options{})
}

func fakeServedWith(h framelink.Handler, f *fakeGnetConn, o framelink.Options) *conn {
	o, err := o.Normalize()
	if err != nil {
		panic(err)
	}
	e := newEngine(o, h, false)
	c := newConn(e, &e.opts, false)
	c.bind(f)
	return c
}

// r[verify serve.reply] r[verify serve.handler]
func TestEchoInPlace(t *testing.T) {
	var in []byte
	for i := range 16 {
		in = append(in, frame(bytes.Repeat([]byte{'E', byte(i)}, 20+i))...)
	}
	f := &fakeGnetConn{in: in, rec: []byte{}}
	c := fakeServed(framelink.EchoHandler{}, f)
	if got := c.e.OnTraffic(f); got != gn.None {
		t.Fatalf("OnTraffic = %v", got)
	}
	if !bytes.Equal(f.rec, in) {
		t.Fatalf("echoed %d bytes, not the %d received", len(f.rec), len(in))
	}
	if f.inPlace != 1 {
		t.Fatalf("%d writes from the input window, want 1 (the whole echo, uncopied)", f.inPlace)
	}
	if s := c.Stats(); s.FramesOut != 16 || s.BytesOut != uint64(len(in)-16*4) || s.QueuedBytes != 0 {
		t.Fatalf("stats after the echo: %+v", s)
	}
}

// r[verify serve.reply] r[verify link.tx.commit]
func TestEchoMixedOrder(t *testing.T) {
	const modes = "ESMPDKAX"
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		var in []byte
		for range 1 + r.IntN(40) {
			p := make([]byte, 2+r.IntN(300))
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			p[0] = modes[r.IntN(len(modes))]
			in = append(in, frame(p)...)
		}
		want := servetest.Replies(in)
		f := &fakeGnetConn{in: append([]byte(nil), in...), rec: []byte{}}
		c := fakeServed(servetest.ReplyModes, f)
		if got := c.e.OnTraffic(f); got != gn.None {
			t.Fatalf("seed %d: OnTraffic = %v", seed, got)
		}
		if !bytes.Equal(f.rec, want) {
			t.Fatalf("seed %d: wrote %d bytes, want %d (%q...)", seed, len(f.rec), len(want), f.rec[:min(len(f.rec), 40)])
		}
		if q := c.Stats().QueuedBytes; q != 0 {
			t.Fatalf("seed %d: %d bytes still queued", seed, q)
		}
	}
}

// An Echo of a part of the payload whose preceding bytes happen to encode
// its length is the same bytes on the wire: it may go out uncopied.
func TestEchoPartWithMatchingHeader(t *testing.T) {
	inner := []byte("hello")
	// The payload is 'Q', LE32(5), "hello": the handler echoes p[5:].
	p := append([]byte{'Q'}, binary.LittleEndian.AppendUint32(nil, uint32(len(inner)))...)
	p = append(p, inner...)
	in := frame(p)
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, q []byte) { _ = c.Echo(q[5:]) }}
	f := &fakeGnetConn{in: in, rec: []byte{}}
	c := fakeServed(h, f)
	c.e.OnTraffic(f)
	if want := frame(inner); !bytes.Equal(f.rec, want) {
		t.Fatalf("wrote %q, want %q", f.rec, want)
	}
	if f.inPlace != 1 {
		t.Fatalf("%d writes from the input window, want 1", f.inPlace)
	}
}

// A Send from another goroutine that the handler waits for, after an
// Echo, goes out after the echo; over a real connection.
// r[verify serve.reply]
func TestEchoThenSendFromGoroutine(t *testing.T) {
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		_ = c.Echo(p)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Send(append([]byte("after:"), p...))
		}()
		<-done // a test handler may wait; this one is quick
	}}
	s := serve(t, h, framelink.Options{})
	nc := rawDial(t, s.Addr())
	var batch []byte
	for i := range 50 {
		batch = append(batch, frame([]byte{'f', byte(i)})...)
	}
	if _, err := nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		for _, want := range [][]byte{{'f', byte(i)}, append([]byte("after:"), 'f', byte(i))} {
			got, err := readFrame(nc)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("frame %d: got %q, want %q", i, got, want)
			}
		}
	}
}

// A slot committed after echoes in the same loop run counts them first:
// the output goes over the high-water mark by at most the frame that
// crossed it, and decoding stops there. (Without that, the slot's frame
// could cross the mark unseen and the next echo add a second frame.)
// r[verify link.tx.backpressure] r[verify serve.reply]
func TestEchoThenSlotPausesAtTheMark(t *testing.T) {
	const size, hw = 300, 1000
	var in []byte
	for i := range 8 {
		in = append(in, frame(bytes.Repeat([]byte{byte(i)}, size))...)
	}
	var peak int64
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		_ = c.Echo(p)
		s, err := c.Alloc(size)
		if err != nil {
			t.Errorf("Alloc: %v", err)
			return
		}
		copy(s.Bytes(), p)
		if err := s.Commit(); err != nil {
			t.Errorf("Commit: %v", err)
		}
		peak = max(peak, c.Stats().QueuedBytes)
	}}
	f := &fakeGnetConn{in: in, rec: []byte{}}
	c := fakeServedWith(h, f, framelink.Options{HighWater: hw, LowWater: hw / 2})
	c.e.OnTraffic(f)
	if bound := int64(hw + 4 + size); peak > bound {
		t.Fatalf("QueuedBytes reached %d, above the high-water mark plus one frame (%d)", peak, bound)
	}
	if want := 2 * len(in); len(f.rec) != want {
		t.Fatalf("wrote %d bytes, want %d (every frame twice)", len(f.rec), want)
	}
}

// FuzzServiceEcho feeds a stream of frames (sizes and reply modes chosen
// by the fuzzer, some larger than the 64 KiB assembly threshold) to one
// served connection in chunks whose boundaries the fuzzer chooses, one
// read event per chunk, and checks every byte written against expect.
// Between events the consumed input is overwritten, as gnet reuses its
// buffers, so an echo still referring to an old window would show.
// r[verify serve.handler] r[verify serve.reply] r[verify wire.frame]
func FuzzServiceEcho(f *testing.F) {
	f.Add([]byte{10, 'E', 20, 'S', 30, 'M', 3, 'P', 9, 'D', 4, 'K', 7, 'A', 8, 'X'}, []byte{5, 1, 200, 3})
	f.Add([]byte{255, 'E', 12, 'E', 255, 'M', 1, 'E'}, []byte{0, 90, 17, 255, 255})
	f.Fuzz(func(t *testing.T, spec, cuts []byte) {
		const modes = "ESMPDKAX"
		var stream []byte
		for i := 0; i+1 < len(spec) && len(stream) < 1<<20; i += 2 {
			n := 2 + int(spec[i])
			if spec[i] == 255 {
				n = assembleMin + 1000 // assembled in a pool buffer
			}
			p := make([]byte, n)
			for k := range p {
				p[k] = byte(i + 7*k)
			}
			p[0] = modes[int(spec[i+1])%len(modes)]
			stream = append(stream, frame(p)...)
		}
		want := servetest.Replies(stream)
		fc := &fakeGnetConn{rec: []byte{}}
		c := fakeServed(servetest.ReplyModes, fc)
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, 1+int(cuts[i])*int(cuts[i])) // 1 B .. 64 KiB
			}
			for k := range fc.off { // what gnet no longer holds is reused
				fc.in[k] = 0xee
			}
			fc.in = append(fc.in[:0], fc.in[fc.off:]...)
			fc.off = 0
			fc.in = append(fc.in, rest[:n]...)
			rest = rest[n:]
			if a := c.e.OnTraffic(fc); a != gn.None {
				t.Fatalf("event %d: OnTraffic = %v", i, a)
			}
		}
		if !bytes.Equal(fc.rec, want) {
			t.Fatalf("wrote %d bytes, want %d; first difference at %d", len(fc.rec), len(want), firstDiff(fc.rec, want))
		}
		if q := c.Stats().QueuedBytes; q != 0 {
			t.Fatalf("%d bytes still queued", q)
		}
	})
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
