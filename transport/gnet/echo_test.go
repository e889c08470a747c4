//go:build unix

package gnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	for _, tc := range []struct {
		name string
		h    framelink.Handler
	}{
		{"Echo per frame", framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) { _ = c.Echo(p) }}},
		{"EchoHandler", framelink.EchoHandler{}},
		{"BatchEchoHandler", framelink.BatchEchoHandler{}},
	} {
		var in []byte
		for i := range 16 {
			in = append(in, frame(bytes.Repeat([]byte{'E', byte(i)}, 20+i))...)
		}
		f := &fakeGnetConn{in: in, rec: []byte{}}
		c := fakeServed(tc.h, f)
		if got := c.e.OnTraffic(f); got != gn.None {
			t.Fatalf("%s: OnTraffic = %v", tc.name, got)
		}
		if !bytes.Equal(f.rec, in) {
			t.Fatalf("%s: echoed %d bytes, not the %d received", tc.name, len(f.rec), len(in))
		}
		if f.inPlace != 1 {
			t.Fatalf("%s: %d writes from the input window, want 1 (the whole echo, uncopied)", tc.name, f.inPlace)
		}
		if s := c.Stats(); s.FramesOut != 16 || s.BytesOut != uint64(len(in)-16*4) || s.QueuedBytes != 0 ||
			s.FramesIn != 16 || s.BytesIn != uint64(len(in)-16*4) {
			t.Fatalf("%s: stats after the echo: %+v", tc.name, s)
		}
	}
}

// Echoes written from the window that gnet keeps in its outbound buffer
// (the socket took none of them) are queued output: they count towards
// the high-water mark until gnet drains them, and then no longer.
// r[verify link.stats] r[verify serve.reply]
func TestEchoKeptByGnetIsQueued(t *testing.T) {
	for _, h := range []framelink.Handler{framelink.EchoHandler{}, framelink.BatchEchoHandler{}} {
		var in []byte
		for i := range 16 {
			in = append(in, frame(bytes.Repeat([]byte{'K', byte(i)}, 30))...)
		}
		f := &fakeGnetConn{in: in, keep: true}
		c := fakeServed(h, f)
		if got := c.e.OnTraffic(f); got != gn.None {
			t.Fatalf("%T: OnTraffic = %v", h, got)
		}
		if s := c.Stats(); s.QueuedBytes != int64(len(in)) || s.FramesOut != 16 || s.FramesIn != 16 {
			t.Fatalf("%T: with gnet keeping all %d bytes: %+v", h, len(in), s)
		}
		// gnet drained part of its buffer, then the rest: the next
		// service run (as the ticker would start) sees it.
		f.outBufd = 100
		c.service(false)
		if q := c.Stats().QueuedBytes; q != 100 {
			t.Fatalf("%T: QueuedBytes = %d with 100 bytes left in gnet, want 100", h, q)
		}
		f.outBufd = 0
		c.service(false)
		if q := c.Stats().QueuedBytes; q != 0 {
			t.Fatalf("%T: QueuedBytes = %d once gnet drained, want 0", h, q)
		}
	}
}

// A BatchHandler gets every whole frame of the window in one OnBatch, a
// frame assembled from several reads alone with its header, and never
// OnFrame; the batch is cut at the output's room under the high-water
// mark.
// r[verify serve.handler]
func TestBatchDelivery(t *testing.T) {
	var calls []int // frames per OnBatch
	var sizes []int
	h := &batchRecorder{on: func(c framelink.Conn, b framelink.Batch) {
		calls = append(calls, b.Len())
		sizes = append(sizes, len(b.Bytes()))
		_ = c.EchoBatch(b)
	}}
	small := frame(bytes.Repeat([]byte{'s'}, 60))
	big := frame(bytes.Repeat([]byte{'b'}, assembleMin+10))
	in := append(bytes.Repeat(small, 10), big[:1000]...)
	f := &fakeGnetConn{in: in, rec: []byte{}}
	c := fakeServed(h, f)
	c.e.OnTraffic(f)
	if fmt.Sprint(calls) != "[10]" {
		t.Fatalf("OnBatch calls (frames each) %v, want [10]", calls)
	}
	f.in = append(f.in, big[1000:]...)
	f.in = append(f.in, small...)
	c.e.OnTraffic(f)
	if fmt.Sprint(calls) != "[10 1 1]" || sizes[1] != len(big) {
		t.Fatalf("OnBatch calls %v of %v bytes, want [10 1 1], the assembled frame alone with its header", calls, sizes)
	}
	want := append(bytes.Repeat(small, 10), big...)
	want = append(want, small...)
	if !bytes.Equal(f.rec, want) {
		t.Fatalf("echoed %d bytes, want %d", len(f.rec), len(want))
	}
	if h.frames != 0 {
		t.Fatalf("OnFrame called %d times", h.frames)
	}

	// A high-water mark of 300 bytes: with nothing queued, the first batch
	// takes 4 frames of 64 bytes (256). Their echo is written when the
	// walk over the window ends, so the next batch has 44 bytes of room:
	// one frame, which crosses the mark. The loop pauses, writes (the fake
	// conn takes everything), and decodes the rest the same way.
	calls = nil
	f = &fakeGnetConn{in: bytes.Repeat(small, 10), rec: []byte{}}
	c = fakeServedWith(h, f, framelink.Options{HighWater: 300, LowWater: 100})
	c.e.OnTraffic(f)
	if fmt.Sprint(calls) != "[4 1 4 1]" {
		t.Fatalf("OnBatch calls %v with a 300-byte high-water mark, want [4 1 4 1]", calls)
	}
	if !bytes.Equal(f.rec, bytes.Repeat(small, 10)) {
		t.Fatalf("echoed %d bytes, want %d", len(f.rec), 10*len(small))
	}
}

type batchRecorder struct {
	frames int
	on     func(framelink.Conn, framelink.Batch)
}

func (h *batchRecorder) OnOpen(framelink.Conn)                       {}
func (h *batchRecorder) OnClose(framelink.Conn, error)               {}
func (h *batchRecorder) OnFrame(framelink.Conn, []byte)              { h.frames++ }
func (h *batchRecorder) OnBatch(c framelink.Conn, b framelink.Batch) { h.on(c, b) }

// EchoBatch of a batch made elsewhere copies it; one with a frame over
// MaxFrame sends nothing; after Close it fails with ErrClosed.
// r[verify serve.reply] r[verify link.tx.alloc.limits] r[verify link.errors]
func TestEchoBatchCopyAndErrors(t *testing.T) {
	own := append(frame([]byte("abc")), frame([]byte("12345678"))...)
	var errs []error
	h := &batchRecorder{on: func(c framelink.Conn, _ framelink.Batch) {
		b, err := framelink.NewBatch(own, 8)
		if err != nil {
			t.Fatal(err)
		}
		errs = append(errs, c.EchoBatch(b))
		own[4] = 'X' // copied at EchoBatch: the change must not show
		big, _ := framelink.NewBatch(frame([]byte("123456789")), 9)
		errs = append(errs, c.EchoBatch(big), c.EchoBatch(framelink.Batch{}))
		_ = c.Close()
		errs = append(errs, c.EchoBatch(b))
	}}
	f := &fakeGnetConn{in: frame([]byte("go")), rec: []byte{}}
	c := fakeServedWith(h, f, framelink.Options{MaxFrame: 8})
	c.e.OnTraffic(f)
	if len(errs) != 4 || errs[0] != nil || !errors.Is(errs[1], framelink.ErrFrameTooLarge) || errs[2] != nil ||
		!errors.Is(errs[3], framelink.ErrClosed) {
		t.Fatalf("EchoBatch errors %v, want [nil, frame too large, nil, closed]", errs)
	}
	want := append(frame([]byte("abc")), frame([]byte("12345678"))...)
	if !bytes.Equal(f.rec, want) {
		t.Fatalf("wrote %q, want %q", f.rec, want)
	}
	if f.inPlace != 0 {
		t.Fatalf("%d writes from the input window: the batch was not in it", f.inPlace)
	}
	if s := c.Stats(); s.FramesOut != 2 || s.BytesOut != 11 {
		t.Fatalf("stats %+v", s)
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
	f.Add([]byte{10, 'B', 20, 'B', 30, 'Y', 3, 'Z', 9, 'B', 255, 'B', 7, 'E'}, []byte{3, 100, 255, 2})
	f.Fuzz(func(t *testing.T, spec, cuts []byte) {
		// With a 'B', 'Y' or 'Z' frame the handler is a BatchHandler
		// (servetest.BatchModes), else ReplyModes.
		const modes = "ESMPDKAXBYZ"
		batch := bytes.ContainsAny(spec, "BYZ")
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
		frames := 0
		for w := stream; len(w) > 0; frames++ {
			w = w[4+binary.LittleEndian.Uint32(w):]
		}
		want := servetest.Replies(stream)
		var h framelink.Handler = servetest.ReplyModes
		bm := servetest.NewBatchModes(framelink.DefaultHighWater)
		if batch {
			want, h = servetest.BatchReplies(stream), bm
		}
		fc := &fakeGnetConn{rec: []byte{}}
		c := fakeServed(h, fc)
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
		if batch {
			bm.Verify(t, frames)
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
