//go:build !windows

package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
)

// batchRec is a framelink.BatchHandler that records a copy of every frame
// it gets, checks each batch against the contract (not empty, within the
// output's room under highWater but one frame), optionally echoes each
// batch with EchoBatch, and counts OnFrame calls (there must be none).
type batchRec struct {
	highWater int
	echo      bool
	onFrame   atomic.Int64
	maxQueued maxInt64 // QueuedBytes right after each EchoBatch

	mu       sync.Mutex
	frames   [][]byte
	batches  int
	multi    int     // batches of more than one frame
	echoErrs []error // EchoBatch's results, if echo
	problems []string
	in       framelink.Stats // at OnClose
	closed   chan error
}

func newBatchRec(highWater int, echo bool) *batchRec {
	return &batchRec{highWater: highWater, echo: echo, closed: make(chan error, 1)}
}

func (h *batchRec) OnOpen(framelink.Conn)          {}
func (h *batchRec) OnFrame(framelink.Conn, []byte) { h.onFrame.Add(1) }

func (h *batchRec) OnBatch(c framelink.Conn, b framelink.Batch) {
	w := b.Bytes()
	queued := c.Stats().QueuedBytes
	h.mu.Lock()
	if b.Len() == 0 || len(w) < 4 {
		h.problems = append(h.problems, fmt.Sprintf("empty batch: Len %d, %d bytes", b.Len(), len(w)))
		h.mu.Unlock()
		return
	}
	first := 4 + int64(binary.LittleEndian.Uint32(w))
	if n := int64(len(w)); n > max(int64(h.highWater)-queued, first) {
		h.problems = append(h.problems, fmt.Sprintf("batch of %d bytes (%d frames), first frame %d bytes, with %d queued under a high-water mark of %d",
			n, b.Len(), first, queued, h.highWater))
	}
	h.batches++
	if b.Len() > 1 {
		h.multi++
	}
	k := 0
	for p := range b.All() {
		h.frames = append(h.frames, bytes.Clone(p))
		k++
	}
	if k != b.Len() {
		h.problems = append(h.problems, fmt.Sprintf("Batch.Len %d, All yields %d", b.Len(), k))
	}
	h.mu.Unlock()
	if h.echo {
		err := c.EchoBatch(b)
		h.maxQueued.see(c.Stats().QueuedBytes)
		h.mu.Lock()
		h.echoErrs = append(h.echoErrs, err)
		h.mu.Unlock()
	}
}

func (h *batchRec) OnClose(c framelink.Conn, err error) {
	h.mu.Lock()
	h.in = c.Stats()
	h.mu.Unlock()
	h.closed <- err
}

// check reports what broke the contract: OnFrame calls, problems, and
// frames other than want (in order); the counters at OnClose must count
// exactly want.
func (h *batchRec) check(t *testing.T, want [][]byte) {
	t.Helper()
	if n := h.onFrame.Load(); n != 0 {
		t.Errorf("OnFrame called %d times for a BatchHandler", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
	if len(h.frames) != len(want) {
		t.Fatalf("%d frames delivered, %d sent", len(h.frames), len(want))
	}
	var payload uint64
	for i, p := range want {
		if !bytes.Equal(h.frames[i], p) {
			t.Fatalf("frame %d: %d bytes, want %d, or different bytes", i, len(h.frames[i]), len(p))
		}
		payload += uint64(len(p))
	}
	if h.in.FramesIn != uint64(len(want)) || h.in.BytesIn != payload {
		t.Errorf("Stats at OnClose: FramesIn %d, BytesIn %d; want %d, %d", h.in.FramesIn, h.in.BytesIn, len(want), payload)
	}
}

func (h *batchRec) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(testTimeout):
		t.Fatal("no OnClose")
		return nil
	}
}

// randomFrames returns count payloads of random sizes, up to 300 bytes,
// some empty and every 97th 64 to 200 KiB, and their wire format.
func randomFrames(r *rand.Rand, count int) (frames [][]byte, wire []byte) {
	for i := range count {
		n := r.IntN(300)
		switch {
		case i%97 == 50:
			n = 64<<10 + r.IntN(136<<10)
		case r.IntN(20) == 0:
			n = 0
		}
		p := payload(n, byte(r.Uint32()))
		frames = append(frames, p)
		wire = append(wire, frame(p)...)
	}
	return frames, wire
}

// writeRandom writes wire to c in writes of random sizes (1 byte to
// maxWrite, one in 50 up to 70000), from a goroutine; the result comes on
// the channel.
func writeRandom(c io.Writer, wire []byte, seed uint64, maxWrite int) <-chan error {
	done := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(seed, seed+1))
		for len(wire) > 0 {
			n := 1 + r.IntN(maxWrite)
			if r.IntN(50) == 0 {
				n = 1 + r.IntN(70000) // through big frames faster
			}
			n = min(len(wire), n)
			if _, err := c.Write(wire[:n]); err != nil {
				done <- err
				return
			}
			wire = wire[n:]
		}
		done <- nil
	}()
	return done
}

// A BatchHandler gets every frame through OnBatch, once, in order, never
// through OnFrame, however the peer's writes cut the stream (big frames
// included), in batches within the output's room under a small high-water
// mark; EchoBatch of each batch returns the stream as it was sent; the
// counters count frames and payload bytes.
// r[verify serve.handler] r[verify serve.reply] r[verify link.stats]
func TestServeBatchDelivery(t *testing.T) {
	const high = 16 << 10
	for _, maxWrite := range []int{7, 300, 5000, 70000} {
		t.Run(fmt.Sprint("writes up to ", maxWrite), func(t *testing.T) {
			h := newBatchRec(high, true)
			s := serve(t, "tcp", h, framelink.Options{HighWater: high, LowWater: high / 4, MaxFrame: 1 << 20})
			c := dialRaw(t, s)
			frames, wire := randomFrames(rand.New(rand.NewPCG(uint64(maxWrite), 1)), 1500)
			werr := writeRandom(c, wire, uint64(maxWrite), maxWrite)
			got := make([]byte, len(wire))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("reading the echoes: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) {
				t.Fatal("the echoes differ from the stream sent")
			}
			_ = c.Close()
			if err := h.waitClosed(t); err != nil {
				t.Errorf("OnClose: %v, want nil", err)
			}
			h.check(t, frames)
			h.mu.Lock()
			defer h.mu.Unlock()
			for i, err := range h.echoErrs {
				if err != nil {
					t.Fatalf("EchoBatch %d: %v", i, err)
				}
			}
		})
	}
}

// A BatchHandler that echoes each batch with EchoBatch to a peer that
// reads only once the connection paused: the pause comes between batches
// as between frames, the output never holds more than the high-water mark
// plus one frame (a batch is at most the room under the mark), and the
// connection resumes when the peer reads, every frame echoed in order.
// r[verify serve.reply] r[verify serve.handler]
func TestServeBatchPause(t *testing.T) {
	const (
		high = 64 << 10
		size = 10 << 10
	)
	h := newBatchRec(high, true)
	s := serve(t, "tcp", h, framelink.Options{HighWater: high, LowWater: high / 4})
	paused := make(chan struct{})
	var once sync.Once
	setPauseHook(s, func(p bool, _ int) {
		if p {
			once.Do(func() { close(paused) })
		}
	})
	c := dialRaw(t, s)
	smallRcvBuf(t, c)
	var want [][]byte
	var wire []byte
	// 16 MiB of echoes: more than the kernel holds for a peer that does
	// not read (Linux grows a socket's send buffer up to 4 MiB).
	for i := range 1600 {
		p := payload(size, byte(i))
		want = append(want, p)
		wire = append(wire, frame(p)...)
	}
	werr := writeRandom(c, wire, 21, 30000)
	select {
	case <-paused:
	case err := <-h.closed:
		t.Fatalf("OnClose(%v) before the client read anything", err)
	case <-time.After(testTimeout):
		t.Fatal("the server never paused")
	}
	got := make([]byte, len(wire))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echoes: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wire) {
		t.Fatal("the echoes differ from the stream sent")
	}
	if q := h.maxQueued.v.Load(); q > high+size+4 {
		t.Errorf("up to %d bytes queued, want at most the high-water mark %d plus one frame", q, high)
	}
	_ = c.Close()
	if err := h.waitClosed(t); err != nil {
		t.Errorf("OnClose: %v, want nil", err)
	}
	h.check(t, want)
}

// Frames that netpoll holds together are delivered together: the first
// OnRequest is held at its end (with netpoll's processing lock) until
// netpoll has read the rest of the stream, small frames in small writes;
// they then come in batches of several frames (a node of netpoll's input
// buffer is at least 4 KiB, the frames at most 304 bytes), each frame
// once, in order.
// r[verify serve.handler]
func TestServeBatchHeld(t *testing.T) {
	h := newBatchRec(framelink.DefaultHighWater, true)
	s := serve(t, "tcp", h, framelink.Options{FrameTimeout: testTimeout})
	c := dialRaw(t, s)
	r := rand.New(rand.NewPCG(11, 12))
	first := payload(10, 1)
	var rest [][]byte
	var wire []byte
	for i := range 400 {
		p := payload(r.IntN(300), byte(i))
		rest = append(rest, p)
		wire = append(wire, frame(p)...)
	}
	var once sync.Once
	start := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		<-start
		werr <- <-writeRandom(c, wire, 13, 500)
	}()
	defer close(start) // if the hook never ran
	hook := func(sc *sconn) {
		once.Do(func() {
			start <- struct{}{}
			if _, err := sc.conn.Reader().Peek(len(wire)); err != nil {
				t.Errorf("waiting for netpoll to read the stream: %v", err)
			}
		})
	}
	s.(*server).requestHook.Store(&hook)
	if _, err := c.Write(frame(first)); err != nil {
		t.Fatal(err)
	}
	// Every frame was delivered once its echo came back.
	got := make([]byte, 4+len(first)+len(wire))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echoes: %v", err)
	}
	if !bytes.Equal(got, append(frame(first), wire...)) {
		t.Fatal("the echoes differ from the stream sent")
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if err := h.waitClosed(t); err != nil {
		t.Errorf("OnClose: %v, want nil", err)
	}
	h.check(t, append([][]byte{first}, rest...))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.multi == 0 || h.batches >= 1+len(rest) {
		t.Errorf("%d batches (%d of several frames) for %d frames held together", h.batches, h.multi, 1+len(rest))
	}
}

// The frames a peer sent right before its end of stream that netpoll
// delivers only through the close callback (see sconn.onClosed; the state
// is made as in TestServeInputLeftAtHangUp) go to OnBatch too, never to
// OnFrame, each once, in order; EchoBatch then fails with ErrClosed, and
// OnClose gets nil, or io.ErrUnexpectedEOF after part of a frame.
// r[verify serve.handler] r[verify wire.eof] r[verify wire.truncated]
func TestServeBatchAtHangUp(t *testing.T) {
	first := payload(100, 1)
	var rest [][]byte
	var whole []byte
	for i := range 40 {
		p := payload(i*211%3000, byte(i+2))
		rest = append(rest, p)
		whole = append(whole, frame(p)...)
	}
	for _, tc := range []struct {
		name string
		wire []byte
		end  error
	}{
		{"frames", whole, nil},
		{"half a frame", append(bytes.Clone(whole), frame(payload(300, 3))[:150]...), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchRec(framelink.DefaultHighWater, true)
			s := serve(t, "tcp", h, framelink.Options{FrameTimeout: testTimeout})
			peer := dialRaw(t, s)
			var once sync.Once
			hook := func(c *sconn) {
				once.Do(func() {
					r := c.conn.Reader()
					if got, err := readFrame(peer); err != nil || !bytes.Equal(got, first) {
						t.Errorf("reply to the first frame: %d bytes, %v", len(got), err)
					}
					if _, err := peer.Write(tc.wire); err != nil {
						t.Error(err)
					}
					_ = peer.Close()
					if _, err := r.Peek(len(tc.wire) + 1); !errors.Is(err, netpoll.ErrEOF) {
						t.Errorf("waiting for the peer's end of stream: %v, want netpoll's ErrEOF", err)
					}
					_ = c.conn.Close() // the close callback runs when OnRequest returns
				})
			}
			s.(*server).requestHook.Store(&hook)
			if _, err := peer.Write(frame(first)); err != nil {
				t.Fatal(err)
			}
			err := h.waitClosed(t)
			if tc.end == nil && err != nil || !errors.Is(err, tc.end) {
				t.Errorf("OnClose: %v, want %v", err, tc.end)
			}
			h.check(t, append([][]byte{first}, rest...))
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.echoErrs[0] != nil {
				t.Errorf("EchoBatch of the first frame: %v", h.echoErrs[0])
			}
			if len(h.echoErrs) < 2 {
				t.Fatalf("%d batches: none delivered by the close callback", len(h.echoErrs))
			}
			for i, e := range h.echoErrs[1:] {
				if !errors.Is(e, framelink.ErrClosed) {
					t.Errorf("EchoBatch %d after the hang-up: %v, want ErrClosed", i+1, e)
				}
			}
		})
	}
}

// Conn.EchoBatch of a batch the handler made (not the one being
// delivered): sent as it is, in commit order with Send, its memory free
// for reuse once EchoBatch returns (copied); counted in FramesOut and
// BytesOut; the empty batch sends nothing; a frame over MaxFrame fails it
// with ErrFrameTooLarge and nothing of it is sent; after Close it fails
// with ErrClosed.
// r[verify serve.reply] r[verify wire.max] r[verify link.stats]
func TestServeEchoBatchOwn(t *testing.T) {
	const maxFrame = 100 << 10
	conns := make(chan framelink.Conn, 1)
	h := framelink.HandlerFuncs{Open: func(c framelink.Conn) { conns <- c }}
	s := serve(t, "tcp", h, framelink.Options{MaxFrame: maxFrame})
	peer := dialRaw(t, s)
	var c framelink.Conn
	select {
	case c = <-conns:
	case <-time.After(testTimeout):
		t.Fatal("no OnOpen")
	}
	expect := func(what string, want ...[]byte) {
		t.Helper()
		for i, w := range want {
			got, err := readFrame(peer)
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("%s: frame %d: %d bytes (%v), want %d, or different bytes", what, i, len(got), err, len(w))
			}
		}
	}

	// Small and big frames (the big batch takes chunks of its own).
	var want [][]byte
	var wire []byte
	var payloadBytes uint64
	for i, n := range []int{0, 1, 100, 5000, maxFrame, 3, 64 << 10} {
		p := payload(n, byte(i+1))
		want = append(want, p)
		wire = append(wire, frame(p)...)
		payloadBytes += uint64(n)
	}
	b, err := framelink.NewBatch(wire, maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Stats()
	a, z := payload(10, 50), payload(20, 60)
	if err := c.Send(a); err != nil {
		t.Fatal(err)
	}
	if err := c.EchoBatch(b); err != nil {
		t.Fatalf("EchoBatch: %v", err)
	}
	clear(wire) // copied: the caller's memory is free
	if err := c.Send(z); err != nil {
		t.Fatal(err)
	}
	expect("Send, EchoBatch, Send", append(append([][]byte{a}, want...), z)...)
	after := c.Stats()
	if d := after.FramesOut - before.FramesOut; d != uint64(len(want)+2) {
		t.Errorf("FramesOut grew by %d, want %d", d, len(want)+2)
	}
	if d := after.BytesOut - before.BytesOut; d != payloadBytes+30 {
		t.Errorf("BytesOut grew by %d, want %d", d, payloadBytes+30)
	}

	// The empty batch, and a batch with a frame over MaxFrame (made with
	// a larger limit): nothing sent, so the marker comes next.
	if err := c.EchoBatch(framelink.Batch{}); err != nil {
		t.Errorf("EchoBatch of the empty batch: %v", err)
	}
	big, err := framelink.NewBatch(append(frame(payload(10, 1)), frame(payload(maxFrame+1, 2))...), 2*maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	var tooLarge *framelink.FrameTooLargeError
	if err := c.EchoBatch(big); !errors.Is(err, framelink.ErrFrameTooLarge) || !errors.As(err, &tooLarge) {
		t.Errorf("EchoBatch with a frame over MaxFrame: %v, want ErrFrameTooLarge", err)
	}
	marker := payload(7, 99)
	if err := c.Send(marker); err != nil {
		t.Fatal(err)
	}
	expect("after the empty and the oversize batch", marker)
	if s := c.Stats(); s.FramesOut != after.FramesOut+1 {
		t.Errorf("FramesOut %d, want %d (the empty and the oversize batch count nothing)", s.FramesOut, after.FramesOut+1)
	}

	// After Close: ErrClosed, and the peer reads its end of stream.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	one, err := framelink.NewBatch(frame(payload(5, 5)), maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EchoBatch(one); !errors.Is(err, framelink.ErrClosed) {
		t.Errorf("EchoBatch after Close: %v, want ErrClosed", err)
	}
	if got, err := readFrame(peer); !errors.Is(err, io.EOF) {
		t.Errorf("after Close the peer read %d bytes (%v), want io.EOF", len(got), err)
	}
}

// A header over MaxFrame after whole frames, all in one write: the frames
// before it come to OnBatch (the batch stops before the header), then the
// connection closes with ErrFrameTooLarge, nothing of the oversize frame
// delivered.
// r[verify wire.max] r[verify serve.handler]
func TestServeBatchOversize(t *testing.T) {
	const maxFrame = 1000
	h := newBatchRec(framelink.DefaultHighWater, false)
	s := serve(t, "tcp", h, framelink.Options{MaxFrame: maxFrame})
	c := dialRaw(t, s)
	var want [][]byte
	var wire []byte
	for i := range 30 {
		p := payload(i*31%maxFrame, byte(i))
		want = append(want, p)
		wire = append(wire, frame(p)...)
	}
	wire = binary.LittleEndian.AppendUint32(wire, maxFrame+1)
	wire = append(wire, payload(100, 1)...)
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	if err := h.waitClosed(t); !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("OnClose: %v, want ErrFrameTooLarge", err)
	}
	h.check(t, want)
}
