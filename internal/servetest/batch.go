package servetest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/framelink/framelink"
)

// BatchModes is a framelink.BatchHandler that answers each frame of a
// batch according to its payload's first byte: a run of 'B' frames with
// one EchoBatch of that run (in place where the engine can), 'Y' with an
// EchoBatch of a batch of its own (a copy), 'Z' with an EchoBatch of the
// empty batch and then Echo, anything else as ReplyModes does. So the
// replies do not depend on where the engine cut its batches. It checks
// the contract as it goes: OnFrame never called, no empty batch, no batch
// beyond the output's room under the high-water mark (but one frame).
type BatchModes struct {
	highWater int
	frames    atomic.Int64 // frames delivered
	onFrame   atomic.Int64 // OnFrame calls: must stay 0
	mu        sync.Mutex
	problems  []string
}

// NewBatchModes returns a BatchModes for connections whose HighWater is
// highWater.
func NewBatchModes(highWater int) *BatchModes { return &BatchModes{highWater: highWater} }

// Verify reports, on t, what broke the contract: a total of frames
// delivered other than frames, any OnFrame call, and the problems seen.
func (h *BatchModes) Verify(t testing.TB, frames int) {
	t.Helper()
	if n := h.frames.Load(); n != int64(frames) {
		t.Errorf("OnBatch got %d frames in all, the client sent %d", n, frames)
	}
	if n := h.onFrame.Load(); n != 0 {
		t.Errorf("OnFrame called %d times for a BatchHandler", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
}

func (h *BatchModes) OnOpen(framelink.Conn)         {}
func (h *BatchModes) OnClose(framelink.Conn, error) {}
func (h *BatchModes) OnFrame(framelink.Conn, []byte) {
	h.onFrame.Add(1)
}

func (h *BatchModes) problem(format string, args ...any) {
	h.mu.Lock()
	if len(h.problems) < 10 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
	h.mu.Unlock()
}

func (h *BatchModes) OnBatch(c framelink.Conn, b framelink.Batch) {
	w := b.Bytes()
	if b.Len() == 0 || len(w) == 0 {
		h.problem("empty batch: Len %d, %d bytes", b.Len(), len(w))
		return
	}
	first := 4 + int(binary.LittleEndian.Uint32(w))
	queued := c.Stats().QueuedBytes
	if room := int64(h.highWater) - int64(queued); int64(len(w)) > max(room, int64(first)) {
		h.problem("batch of %d bytes (%d frames) with %d queued: over the high-water mark %d, first frame %d bytes",
			len(w), b.Len(), queued, h.highWater, first)
	}
	h.frames.Add(int64(b.Len()))
	n := 0
	run := -1 // start of the open run of 'B' frames
	endRun := func(end int) {
		if run < 0 {
			return
		}
		sub, err := framelink.NewBatch(w[run:end], 1<<20)
		if err != nil {
			h.problem("NewBatch of a run of the batch: %v", err)
		} else if err := c.EchoBatch(sub); err != nil {
			h.problem("EchoBatch: %v", err)
		}
		run = -1
	}
	for off := 0; off < len(w); {
		size := int(binary.LittleEndian.Uint32(w[off:]))
		p := w[off+4 : off+4+size]
		next := off + 4 + size
		n++
		switch p[0] {
		case 'B':
			if run < 0 {
				run = off
			}
		case 'Y':
			endRun(off)
			own, err := framelink.NewBatch(wireFrame(p), 1<<20)
			if err == nil {
				err = c.EchoBatch(own)
			}
			if err != nil {
				h.problem("EchoBatch of a copy: %v", err)
			}
		case 'Z':
			endRun(off)
			if err := c.EchoBatch(framelink.Batch{}); err != nil {
				h.problem("EchoBatch of the empty batch: %v", err)
			}
			_ = c.Echo(p)
		default:
			endRun(off)
			ReplyModes.OnFrame(c, p)
		}
		off = next
	}
	endRun(len(w))
	if n != b.Len() {
		h.problem("Batch.Len %d, %d frames in its bytes", b.Len(), n)
	}
}

// BatchReplies is what BatchModes sends for the frames of stream.
func BatchReplies(stream []byte) []byte {
	var out []byte
	for len(stream) > 0 {
		n := int(binary.LittleEndian.Uint32(stream))
		f := stream[:4+n]
		stream = stream[4+n:]
		switch f[4] {
		case 'B', 'Y', 'Z':
			out = append(out, f...)
		default:
			out = append(out, Replies(f)...)
		}
	}
	return out
}

// BatchMixed checks the framelink.BatchHandler contract on an engine's
// Serve (r[serve.handler], r[serve.reply]): a client sends 3000 frames in
// writes of random sizes (so frames share reads and are split across them,
// some larger than 64 KiB), with a small high-water mark. The handler must
// get every frame through OnBatch (never OnFrame), in order, in batches
// that are never empty and never larger than the output's room but one
// frame; and its replies, made with EchoBatch of runs of the batch,
// EchoBatch of batches of its own, Echo, Send and slots, must arrive
// exactly, in commit order.
func BatchMixed(t *testing.T, serve Serve) {
	t.Helper()
	const highWater = 16 << 10
	h := NewBatchModes(highWater)
	srv := start(t, serve, h, framelink.Options{HighWater: highWater})
	const modes = "BBBBBYZESMPDKAX"
	const count = 3000
	r := rand.New(rand.NewPCG(3, 4))
	var stream []byte
	for i := range count {
		n := 2 + r.IntN(200)
		if i%500 == 7 {
			n = 70 << 10
		}
		p := make([]byte, n)
		for k := range p {
			p[k] = byte(r.Uint32())
		}
		p[0] = modes[r.IntN(len(modes))]
		if i == count-1 {
			p[0] = 'B' // the last frame is answered: all were delivered
		}
		stream = append(stream, wireFrame(p)...)
	}
	expect := BatchReplies(stream)

	exchange(t, srv.Addr().String(), stream, expect, rand.New(rand.NewPCG(5, 6)))
	h.Verify(t, count)
}
