package netstd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// wireOf is the wire form of payloads, in order.
func wireOf(payloads ...[]byte) []byte {
	var w []byte
	for _, p := range payloads {
		w = codec.AppendFrame(w, p)
	}
	return w
}

// batchLog is a BatchHandler that records every batch (a copy of its
// bytes) and checks the contract as it goes: OnFrame never called, no
// empty batch, Len, Largest and All agreeing with the bytes, a frame
// larger than the read buffer alone in its batch, and (with highWater
// set) no batch beyond the output's room under the high-water mark but
// its first frame. With echo it answers each batch with EchoBatch.
type batchLog struct {
	highWater int
	echo      bool

	opened  chan framelink.Conn
	closed  chan error
	onFrame atomic.Int64

	mu       sync.Mutex
	batches  [][]byte
	problems []string
}

func newBatchLog(highWater int, echo bool) *batchLog {
	return &batchLog{highWater: highWater, echo: echo, opened: make(chan framelink.Conn, 4), closed: make(chan error, 4)}
}

func (h *batchLog) OnOpen(c framelink.Conn)             { h.opened <- c }
func (h *batchLog) OnClose(c framelink.Conn, err error) { h.closed <- err }
func (h *batchLog) OnFrame(framelink.Conn, []byte)      { h.onFrame.Add(1) }

func (h *batchLog) problem(format string, args ...any) {
	if len(h.problems) < 10 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

func (h *batchLog) OnBatch(c framelink.Conn, b framelink.Batch) {
	w := b.Bytes()
	queued := c.Stats().QueuedBytes
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.Len() == 0 || len(w) == 0 {
		h.problem("empty batch: Len %d, %d bytes", b.Len(), len(w))
		return
	}
	var payloads [][]byte
	for off := 0; off < len(w); {
		if len(w)-off < codec.HeaderSize {
			h.problem("batch ends inside a header")
			return
		}
		n := int(binary.LittleEndian.Uint32(w[off:]))
		if len(w)-off-codec.HeaderSize < n {
			h.problem("batch ends inside a payload")
			return
		}
		payloads = append(payloads, w[off+codec.HeaderSize:off+codec.HeaderSize+n])
		off += codec.HeaderSize + n
	}
	largest, i := 0, 0
	for p := range b.All() {
		if i >= len(payloads) || !bytes.Equal(p, payloads[i]) {
			h.problem("All yields payload %d unlike the bytes", i)
		}
		largest = max(largest, len(p))
		i++
	}
	if i != len(payloads) || b.Len() != len(payloads) || b.Largest() != largest {
		h.problem("Len %d, All %d, bytes %d frames; Largest %d, want %d", b.Len(), i, len(payloads), b.Largest(), largest)
	}
	if codec.HeaderSize+largest > codec.DefaultReadBuffer && b.Len() != 1 {
		h.problem("a frame of %d bytes (over the read buffer) in a batch of %d", largest, b.Len())
	}
	first := codec.HeaderSize + len(payloads[0])
	if h.highWater > 0 && int64(len(w)) > max(int64(h.highWater)-queued, int64(first)) {
		h.problem("batch of %d bytes (%d frames) with %d queued, high-water mark %d, first frame %d bytes",
			len(w), b.Len(), queued, h.highWater, first)
	}
	h.batches = append(h.batches, bytes.Clone(w))
	if h.echo {
		if err := c.EchoBatch(b); err != nil {
			h.problem("EchoBatch: %v", err)
		}
	}
}

// check reports the problems seen and returns the batches.
func (h *batchLog) check(t *testing.T) [][]byte {
	t.Helper()
	if n := h.onFrame.Load(); n != 0 {
		t.Errorf("OnFrame called %d times for a BatchHandler", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
	return h.batches
}

// pipeListener hands out the server ends of net.Pipe connections: a
// net.Pipe Write is taken by the server's reads whole (as far as its read
// buffer has room), so which frames share a read is known.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new connection to the server.
func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// r[verify serve.handler] One OnBatch per read: the whole frames a read
// completes (including one begun by the read before, if it fits the read
// buffer), empty frames first or last included; a frame larger than the
// read buffer alone, with its header; the frames before the end of
// stream; FramesIn and BytesIn.
func TestServeBatchPerRead(t *testing.T) {
	h := newBatchLog(0, false)
	ln := newPipeListener()
	s, err := ServeListener(ln, h, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, s)
	c := ln.dial()
	defer c.Close()
	sc := <-h.opened

	f := func(i, n int) []byte { return payload(i, n) }
	var many [][]byte
	for i := range 200 {
		many = append(many, f(100+i, 50))
	}
	f5 := wireOf(f(5, 300))
	fits := codec.DefaultReadBuffer - codec.HeaderSize // fills the read buffer exactly
	writes := [][]byte{
		wireOf(f(1, 10), f(2, 0), f(3, 100)),
		append(wireOf(f(4, 50)), f5[:20]...),
		append(append([]byte(nil), f5[20:]...), wireOf(f(6, 5), f(7, 0))...),
		wireOf(f(8, 40<<10)),
		wireOf(f(9, 0), f(10, 7)),
		wireOf(f(11, fits)),
		wireOf(f(12, fits+1)),
		wireOf(many...),
		wireOf(f(13, 1), f(14, 0)),
	}
	want := [][]byte{
		wireOf(f(1, 10), f(2, 0), f(3, 100)),
		wireOf(f(4, 50)),
		wireOf(f(5, 300), f(6, 5), f(7, 0)),
		wireOf(f(8, 40<<10)),
		wireOf(f(9, 0), f(10, 7)),
		wireOf(f(11, fits)),
		wireOf(f(12, fits+1)),
		wireOf(many...),
		wireOf(f(13, 1), f(14, 0)), // then the end of stream
	}
	frames, payloadBytes := 0, 0
	for _, w := range writes {
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range want {
		for p := range mustBatch(t, w).All() {
			frames++
			payloadBytes += len(p)
		}
	}
	c.Close()
	if err := <-h.closed; err != nil {
		t.Fatalf("OnClose: %v", err)
	}
	got := h.check(t)
	if len(got) != len(want) {
		t.Errorf("%d batches, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("batch %d: %d bytes (%d frames), want %d bytes (%d frames)",
				i, len(got[i]), mustBatch(t, got[i]).Len(), len(want[i]), mustBatch(t, want[i]).Len())
		}
	}
	st := sc.Stats()
	if st.FramesIn != uint64(frames) || st.BytesIn != uint64(payloadBytes) {
		t.Errorf("FramesIn %d, BytesIn %d; want %d, %d", st.FramesIn, st.BytesIn, frames, payloadBytes)
	}
}

func mustBatch(t *testing.T, w []byte) framelink.Batch {
	t.Helper()
	b, err := framelink.NewBatch(w, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomStream returns count frames of random sizes (empty ones, small
// ones, and every 97th larger than the read buffer) as payloads and as
// one wire stream.
func randomStream(r *rand.Rand, count int) ([][]byte, []byte) {
	var payloads [][]byte
	var wire []byte
	for i := range count {
		n := r.IntN(300)
		switch {
		case i%97 == 50:
			n = codec.DefaultReadBuffer + r.IntN(60<<10)
		case i%13 == 0:
			n = 0
		}
		p := payload(i, n)
		payloads = append(payloads, p)
		wire = codec.AppendFrame(wire, p)
	}
	return payloads, wire
}

// writeRandom writes w to c in writes of random sizes, then reports.
func writeRandom(c net.Conn, r *rand.Rand, w []byte, done chan<- error) {
	for len(w) > 0 {
		n := min(len(w), 1+r.IntN(20000))
		if _, err := c.Write(w[:n]); err != nil {
			done <- err
			return
		}
		w = w[n:]
	}
	done <- nil
}

// r[verify serve.handler] r[verify serve.reply] Over TCP, written in
// random pieces: every frame delivered once, in order, through OnBatch
// only; batches within the output's room under a small high-water mark
// (but one frame); frames over the read buffer alone; the EchoBatch
// replies exact and counted.
func TestServeBatchDelivery(t *testing.T) {
	const highWater = 8 << 10
	h := newBatchLog(highWater, true)
	s := serveTCP(t, h, framelink.Options{HighWater: highWater, LowWater: highWater / 4})
	defer shutdown(t, s)
	c := rawDial(t, s)
	sc := <-h.opened
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := rand.New(rand.NewPCG(1, 2))
	payloads, wire := randomStream(r, 2000)
	done := make(chan error, 1)
	go writeRandom(c, rand.New(rand.NewPCG(3, 4)), wire, done)
	got := make([]byte, len(wire))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echoes: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wire) {
		t.Error("the echoes differ from the frames sent")
	}
	batches := h.check(t)
	var delivered [][]byte
	most := 0
	for _, w := range batches {
		b := mustBatch(t, w)
		most = max(most, b.Len())
		for p := range b.All() {
			delivered = append(delivered, p)
		}
	}
	if len(delivered) != len(payloads) {
		t.Fatalf("%d frames delivered, %d sent", len(delivered), len(payloads))
	}
	for i := range payloads {
		if !bytes.Equal(delivered[i], payloads[i]) {
			t.Fatalf("frame %d: %d bytes delivered, want %d", i, len(delivered[i]), len(payloads[i]))
		}
	}
	if most < 2 {
		t.Errorf("no batch held more than one frame (%d batches)", len(batches))
	}
	payloadBytes := uint64(len(wire) - len(payloads)*codec.HeaderSize)
	st := sc.Stats()
	if st.FramesIn != uint64(len(payloads)) || st.BytesIn != payloadBytes ||
		st.FramesOut != uint64(len(payloads)) || st.BytesOut != payloadBytes {
		t.Errorf("stats %+v: want %d frames and %d bytes each way", st, len(payloads), payloadBytes)
	}
}

// r[verify serve.handler] r[verify wire.eof] The frames a peer sends
// right before its end of stream, a large one among them, all reach
// OnBatch, then OnClose(nil).
func TestServeBatchEndOfStream(t *testing.T) {
	h := newBatchLog(0, false)
	s := serveTCP(t, h, framelink.Options{})
	defer shutdown(t, s)
	c := rawDial(t, s)
	<-h.opened
	var payloads [][]byte
	for i := range 300 {
		payloads = append(payloads, payload(i, i%40))
	}
	payloads = append(payloads, payload(300, 50<<10))
	for i := range 5 {
		payloads = append(payloads, payload(301+i, i))
	}
	if _, err := c.Write(wireOf(payloads...)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-h.closed; err != nil {
		t.Fatalf("OnClose: %v", err)
	}
	var delivered [][]byte
	for _, w := range h.check(t) {
		for p := range mustBatch(t, w).All() {
			delivered = append(delivered, p)
		}
	}
	if len(delivered) != len(payloads) {
		t.Fatalf("%d frames delivered, %d sent", len(delivered), len(payloads))
	}
	for i := range payloads {
		if !bytes.Equal(delivered[i], payloads[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

// echoBatchScript is a BatchHandler that, on its first batch, sends its
// own batches with EchoBatch between Sends and a slot, then checks
// EchoBatch's errors: an empty batch, a frame over MaxFrame, and
// EchoBatch after Close.
type echoBatchScript struct {
	opened chan framelink.Conn
	closed chan error
	errs   chan error // one per check, nil when it passed
	once   sync.Once
}

const scriptMax = 30000 // MaxFrame

// scriptOwn are the handler's own batches: small ones (into the Send
// accumulator) and one over half of it (a buffer of its own).
var scriptOwn = [][][]byte{
	{payload(1, 3), payload(2, 0), payload(3, 100)},
	{payload(4, 20000), payload(5, 5)},
}

func (h *echoBatchScript) OnOpen(c framelink.Conn)             { h.opened <- c }
func (h *echoBatchScript) OnClose(c framelink.Conn, err error) { h.closed <- err }
func (h *echoBatchScript) OnFrame(framelink.Conn, []byte)      { h.errs <- errors.New("OnFrame called") }

func (h *echoBatchScript) OnBatch(c framelink.Conn, _ framelink.Batch) {
	h.once.Do(func() { h.script(c) })
}

func (h *echoBatchScript) expect(err error, want error) {
	if !errors.Is(err, want) {
		err = fmt.Errorf("got %v, want %v", err, want)
	} else {
		err = nil
	}
	h.errs <- err
}

func (h *echoBatchScript) script(c framelink.Conn) {
	var bufs [][]byte
	own := func(payloads [][]byte, max uint32) framelink.Batch {
		w := wireOf(payloads...)
		bufs = append(bufs, w)
		b, err := framelink.NewBatch(w, max)
		if err != nil {
			panic(err)
		}
		return b
	}
	h.expect(c.Send([]byte("s1")), nil)
	h.expect(c.EchoBatch(own(scriptOwn[0], scriptMax)), nil)
	h.expect(c.Send([]byte("s2")), nil)
	h.expect(c.EchoBatch(own(scriptOwn[1], scriptMax)), nil)
	s, err := c.Alloc(2)
	if err == nil {
		copy(s.Bytes(), "s3")
		err = s.Commit()
	}
	h.expect(err, nil)
	for _, b := range bufs {
		for i := range b {
			b[i] = 0xee // the batches were copied: this changes nothing sent
		}
	}
	h.expect(c.EchoBatch(framelink.Batch{}), nil)
	h.expect(c.EchoBatch(own([][]byte{payload(6, 10), payload(7, scriptMax+1)}, 1<<20)), framelink.ErrFrameTooLarge)
	h.expect(c.Send([]byte("end")), nil)
	h.expect(c.Close(), nil)
	h.expect(c.EchoBatch(own([][]byte{payload(8, 1)}, scriptMax)), framelink.ErrClosed)
	h.expect(c.EchoBatch(own([][]byte{payload(9, 20000)}, scriptMax)), framelink.ErrClosed)
	close(h.errs)
}

// r[verify serve.reply] Conn.EchoBatch copies its batch whole, in commit
// order with Send and slots, from a callback or another goroutine;
// rejects a batch with a frame over MaxFrame without sending any of it;
// sends nothing for an empty batch; and returns ErrClosed after Close.
func TestServeEchoBatch(t *testing.T) {
	h := &echoBatchScript{opened: make(chan framelink.Conn, 1), closed: make(chan error, 1), errs: make(chan error, 32)}
	s := serveTCP(t, h, framelink.Options{MaxFrame: scriptMax})
	defer shutdown(t, s)
	c := rawDial(t, s)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	sc := <-h.opened

	// From another goroutine, while the connection waits for input.
	idle := wireOf(payload(20, 7), payload(21, 0))
	if err := sc.EchoBatch(mustBatch(t, idle)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(idle))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, idle) {
		t.Fatalf("EchoBatch from another goroutine: %v", err)
	}

	rawWrite(t, c, []byte("go"))
	want := append(wireOf([]byte("s1")), wireOf(scriptOwn[0]...)...)
	want = append(want, wireOf([]byte("s2"))...)
	want = append(want, wireOf(scriptOwn[1]...)...)
	want = append(want, wireOf([]byte("s3"), []byte("end"))...)
	got = make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the replies: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("replies differ from the commits")
	}
	if _, err := rawRead(c); !errors.Is(err, io.EOF) {
		t.Errorf("after the replies: %v, want EOF", err)
	}
	i := 0
	for err := range h.errs {
		if err != nil {
			t.Errorf("check %d: %v", i, err)
		}
		i++
	}
	if err := <-h.closed; err != nil {
		t.Errorf("OnClose: %v", err)
	}
	if err := sc.EchoBatch(mustBatch(t, idle)); !errors.Is(err, framelink.ErrClosed) {
		t.Errorf("EchoBatch after OnClose: %v, want ErrClosed", err)
	}
	// 2 frames from the other goroutine; s1, 3, s2, 2, s3, end.
	st := sc.Stats()
	payloadBytes := uint64(7 + 2 + 3 + 100 + 2 + 20000 + 5 + 2 + 3)
	if st.FramesOut != 11 || st.BytesOut != payloadBytes {
		t.Errorf("FramesOut %d, BytesOut %d; want 11, %d", st.FramesOut, st.BytesOut, payloadBytes)
	}
}
