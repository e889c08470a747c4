package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// The model-based test: a random program of operations on the sending
// half of one link (reserve, alloc, write, discard, release, drop, commit,
// send, misuse, cancelled reserve, bursts of concurrent senders, close)
// is run against the real link while a model computes, for every
// operation, the result it must return and, for the whole program, the
// frames the peer must receive. The peer's frames are then compared with
// the model's, exactly.

// A chooser gives the program's random choices: a PRNG, or a fuzzer's
// bytes.
type chooser interface {
	IntN(n int) int
	done() bool
}

type rngChooser struct {
	r    *rand.Rand
	left int
}

func (c *rngChooser) IntN(n int) int { c.left--; return c.r.IntN(n) }
func (c *rngChooser) done() bool     { return c.left <= 0 }

type byteChooser struct{ b []byte }

func (c *byteChooser) IntN(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 && len(c.b) > 0 {
		v = v<<8 | int(c.b[0])
		c.b = c.b[1:]
	}
	return v % n
}
func (c *byteChooser) done() bool { return len(c.b) == 0 }

// modelPermit and modelSlot are the model's view of a live handle.
type modelPermit struct {
	p    framelink.Permit
	used bool
}

type modelSlot struct {
	s    framelink.Slot
	data []byte // the model's copy of what was written
	used bool
}

// An expected run of frames: one frame, or a burst from concurrent
// senders whose frames may interleave but keep each sender's order.
type expected struct {
	frame []byte
	burst [][][]byte // per sender
}

// model runs the program on tx and returns the frames the peer must get.
type model struct {
	t       testing.TB
	ctx     context.Context
	tx      framelink.Tx
	max     int
	c       chooser
	permits []*modelPermit
	slots   []*modelSlot
	closed  bool
	want    []expected
	log     []string // the program so far, for a failure message
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	tail := m.log
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	m.t.Fatalf("%s\nlast operations:\n  %s", fmt.Sprintf(format, args...), joinLines(tail))
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

func (m *model) logf(format string, args ...any) { m.log = append(m.log, fmt.Sprintf(format, args...)) }

// expectErr checks err against the model's expected error (nil for none).
// After Close, ErrClosed is accepted in place of the expected error for
// the operations the contract lets Close cut short.
func (m *model) expectErr(op string, err, want error) {
	m.t.Helper()
	if want == nil {
		if err != nil {
			m.fail("%s: %v, want success", op, err)
		}
		return
	}
	if !errors.Is(err, want) {
		m.fail("%s: %v, want %v", op, err, want)
	}
}

// payload makes n bytes for the model, recognisable per op.
func (m *model) payload(n int) []byte {
	b := make([]byte, n)
	seed := byte(len(m.log))
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func (m *model) size() int {
	switch m.c.IntN(8) {
	case 0:
		return 0
	case 1:
		return m.max
	case 2:
		return m.max + 1 // refused
	case 3:
		return -1 // refused
	default:
		return m.c.IntN(m.max + 1)
	}
}

// step runs one operation.
func (m *model) step() {
	m.t.Helper()
	switch op := m.c.IntN(16); {
	case op <= 2: // reserve
		p, err := m.tx.Reserve(m.ctx)
		m.logf("reserve -> %v", err)
		if m.closed {
			m.expectErr("Reserve after Tx.Close", err, framelink.ErrClosed)
			return
		}
		m.expectErr("Reserve", err, nil)
		m.permits = append(m.permits, &modelPermit{p: p})
	case op == 3: // cancelled reserve
		cctx, cancel := context.WithCancel(m.ctx)
		cancel()
		_, err := m.tx.Reserve(cctx)
		m.logf("reserve(cancelled) -> %v", err)
		if m.closed && errors.Is(err, framelink.ErrClosed) {
			return
		}
		m.expectErr("Reserve(cancelled ctx)", err, context.Canceled)
	case op <= 6: // alloc on a permit (maybe a used one)
		if len(m.permits) == 0 {
			return
		}
		i := m.c.IntN(len(m.permits))
		mp := m.permits[i]
		n := m.size()
		s, err := mp.p.Alloc(n)
		m.logf("permit[%d].alloc(%d) -> %v", i, n, err)
		var want error
		switch {
		case mp.used:
			want = framelink.ErrPermitUsed
		case n < 0:
			want = framelink.ErrNegativeSize
		case n > m.max:
			want = framelink.ErrFrameTooLarge
		}
		wasUsed := mp.used
		mp.used = true
		if m.closed && !wasUsed && errors.Is(err, framelink.ErrClosed) {
			return // allowed: Alloc after Tx.Close may refuse
		}
		m.expectErr("Alloc", err, want)
		if err == nil {
			if len(s.Bytes()) != n {
				m.fail("Alloc(%d) gave %d bytes", n, len(s.Bytes()))
			}
			// Slot memory starts with unspecified contents: fill it.
			data := m.payload(n)
			copy(s.Bytes(), data)
			m.slots = append(m.slots, &modelSlot{s: s, data: data})
		}
	case op == 7: // release a permit (maybe a used one)
		if len(m.permits) == 0 {
			return
		}
		i := m.c.IntN(len(m.permits))
		mp := m.permits[i]
		err := mp.p.Release()
		m.logf("permit[%d].release -> %v", i, err)
		var want error
		if mp.used {
			want = framelink.ErrPermitUsed
		}
		mp.used = true
		m.expectErr("Release", err, want)
	case op == 8: // drop a permit: forget it without Release
		if len(m.permits) == 0 {
			return
		}
		i := m.c.IntN(len(m.permits))
		m.logf("permit[%d] dropped", i)
		m.permits = append(m.permits[:i], m.permits[i+1:]...)
	case op <= 10: // write into a live slot
		if len(m.slots) == 0 {
			return
		}
		i := m.c.IntN(len(m.slots))
		ms := m.slots[i]
		if ms.used || len(ms.data) == 0 {
			return
		}
		off := m.c.IntN(len(ms.data))
		end := off + 1 + m.c.IntN(len(ms.data)-off)
		p := m.payload(end - off)
		copy(ms.s.Bytes()[off:end], p)
		copy(ms.data[off:end], p)
		m.logf("slot[%d].write[%d:%d]", i, off, end)
	case op <= 12: // commit (maybe a used slot)
		if len(m.slots) == 0 {
			return
		}
		i := m.c.IntN(len(m.slots))
		ms := m.slots[i]
		err := ms.s.Commit()
		m.logf("slot[%d].commit (%d bytes) -> %v", i, len(ms.data), err)
		if ms.used {
			m.expectErr("Commit of a used slot", err, framelink.ErrPermitUsed)
			return
		}
		ms.used = true
		if m.closed {
			m.expectErr("Commit after Tx.Close", err, framelink.ErrClosed)
			return
		}
		m.expectErr("Commit", err, nil)
		m.want = append(m.want, expected{frame: ms.data})
	case op == 13: // discard (maybe a used slot)
		if len(m.slots) == 0 {
			return
		}
		i := m.c.IntN(len(m.slots))
		ms := m.slots[i]
		err := ms.s.Discard()
		m.logf("slot[%d].discard -> %v", i, err)
		var want error
		if ms.used {
			want = framelink.ErrPermitUsed
		}
		ms.used = true
		m.expectErr("Discard", err, want)
	case op == 14: // one-call Send
		n := m.size()
		p := m.payload(max(n, 0))
		var err error
		if n < 0 {
			return
		}
		err = m.tx.Send(m.ctx, p)
		m.logf("send(%d) -> %v", n, err)
		switch {
		case m.closed:
			m.expectErr("Send after Tx.Close", err, framelink.ErrClosed)
		case n > m.max:
			m.expectErr("Send", err, framelink.ErrFrameTooLarge)
		default:
			m.expectErr("Send", err, nil)
			m.want = append(m.want, expected{frame: p})
		}
	case op == 15: // a burst of concurrent senders, or (rarely) Tx.Close
		if m.c.IntN(8) == 0 {
			err := m.tx.Close()
			m.logf("tx.close -> %v", err)
			if !m.closed {
				m.expectErr("Tx.Close", err, nil)
			}
			m.closed = true
			return
		}
		m.burst(2+m.c.IntN(3), 1+m.c.IntN(20))
	}
}

// burst runs k goroutines that each send n tagged frames at once, half
// through Send and half through Reserve/Alloc/Commit.
func (m *model) burst(k, n int) {
	m.t.Helper()
	m.logf("burst %d senders × %d frames", k, n)
	frames := make([][][]byte, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for g := range k {
		for i := range n {
			size := 4 + (g*131+i*17)%max(1, m.max-3)
			if size > m.max {
				size = m.max
			}
			b := make([]byte, size)
			copy(b, []byte{byte(g), byte(i), byte(i >> 8), 0xb5})
			for j := 4; j < len(b); j++ {
				b[j] = byte(g + i + j)
			}
			frames[g] = append(frames[g], b)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range frames[g] {
				var err error
				if i%2 == 0 {
					err = m.tx.Send(m.ctx, p)
				} else {
					var pm framelink.Permit
					if pm, err = m.tx.Reserve(m.ctx); err == nil {
						err = commitCopy(pm.Alloc, p)
					}
				}
				if err != nil {
					errs[g] = err
					frames[g] = frames[g][:i]
					return
				}
			}
		}()
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil && !(m.closed && errors.Is(err, framelink.ErrClosed)) {
			m.fail("burst sender %d: %v", g, err)
		}
	}
	if m.closed {
		return
	}
	m.want = append(m.want, expected{burst: frames})
}

// verify compares what the peer received with the model.
func (m *model) verify(got [][]byte) {
	m.t.Helper()
	i := 0
	for wi, w := range m.want {
		if w.burst == nil {
			if i >= len(got) {
				m.fail("peer received %d frames; frame %d of the model (%d bytes) is missing", len(got), wi, len(w.frame))
			}
			if !bytes.Equal(got[i], w.frame) {
				m.fail("frame %d: peer got %d bytes %x…, model wants %d bytes %x…", i, len(got[i]), head(got[i]), len(w.frame), head(w.frame))
			}
			i++
			continue
		}
		next := make([]int, len(w.burst))
		total := 0
		for _, fs := range w.burst {
			total += len(fs)
		}
		for range total {
			if i >= len(got) {
				m.fail("peer received %d frames; burst %d is cut short", len(got), wi)
			}
			f := got[i]
			if len(f) < 4 || f[3] != 0xb5 || int(f[0]) >= len(w.burst) {
				m.fail("frame %d: %x… is not a frame of burst %d", i, head(f), wi)
			}
			g := int(f[0])
			if next[g] >= len(w.burst[g]) || !bytes.Equal(f, w.burst[g][next[g]]) {
				m.fail("frame %d: burst %d sender %d frame %d out of order, duplicated or corrupted", i, wi, g, next[g])
			}
			next[g]++
			i++
		}
	}
	if i != len(got) {
		m.fail("peer received %d frames, the model only %d", len(got), i)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

// runModel runs one program (choices from c) on a fresh pair and checks
// the peer's frames against the model.
func runModel(t *testing.T, p linkPair, c chooser, limit time.Duration) {
	o := framelink.Options{MaxFrame: 300, HighWater: 512, LowWater: 128}
	a, b := p.make(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var got [][]byte
	recvErr := make(chan error, 1)
	go func() {
		for {
			f, err := b.Rx().Recv(ctx)
			if err != nil {
				recvErr <- err
				return
			}
			got = append(got, append([]byte(nil), f.Bytes()...))
			f.Release()
		}
	}()
	m := &model{t: t, ctx: ctx, tx: a.Tx(), max: int(o.MaxFrame), c: c}
	for !c.done() {
		m.step()
	}
	// Whatever the program left live is abandoned: permits dropped, slots
	// discarded (a slot dropped without Commit or Discard may stall the
	// link, r[link.tx.discard]).
	for _, s := range m.slots {
		if !s.used {
			s.s.Discard()
		}
	}
	if err := a.Tx().Close(); err != nil && !m.closed {
		t.Fatalf("final Tx.Close: %v", err)
	}
	if err := <-recvErr; !errors.Is(err, io.EOF) {
		t.Fatalf("peer's Recv ended with %v after %d frames, want io.EOF", err, len(got))
	}
	m.verify(got)
	st := a.Stats()
	var n uint64
	for _, w := range m.want {
		if w.burst == nil {
			n++
		}
		for _, fs := range w.burst {
			n += uint64(len(fs))
		}
	}
	if st.FramesOut != n {
		t.Fatalf("sender Stats.FramesOut = %d, model committed %d (r[link.stats])", st.FramesOut, n)
	}
	var nb uint64
	for _, g := range got {
		nb += uint64(len(g))
	}
	noteFrames(p.client.name, n, 0, nb, 0)
	noteFrames(p.server.name, 0, uint64(len(got)), 0, nb)
}

// TestModel runs random programs against every engine's links.
//
// r[verify link.tx.reserve] r[verify link.tx.permit.release]
// r[verify link.tx.discard] r[verify link.tx.commit]
// r[verify link.tx.misuse] r[verify link.tx.alloc.limits]
// r[verify link.tx.cancel] r[verify link.tx.concurrent]
// r[verify link.tx.close] r[verify link.tx.send] r[verify link.order]
// r[verify link.message] r[verify wire.empty] r[verify link.tx.backpressure]
func TestModel(t *testing.T) {
	ps := pairs(true)
	if len(ps) == 0 {
		t.Skip("no engine registered yet")
	}
	seed := testSeed(t)
	programs := 12
	if testing.Short() {
		programs = 4
	}
	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			checkLeaks(t, p.client, p.server)
			for i := range programs {
				s := seed + uint64(i)
				ok := t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Logf("seed %#x", s)
					runModel(t, p, &rngChooser{r: rand.New(rand.NewPCG(s, 2)), left: 400}, hangLimit)
				})
				if !ok {
					return // one failing program is enough per pair
				}
			}
			noteTried(p.client.name, "model")
			noteTried(p.server.name, "model")
		})
	}
}

// FuzzModel runs fuzzer-chosen programs on the in-process pair (and on
// the first network engine's loopback pair when one is registered: slower,
// so only for the seed corpus in plain go test).
func FuzzModel(f *testing.F) {
	for i := range 8 {
		b := make([]byte, 256)
		for j := range b {
			b[j] = byte(mix(uint64(i*1000 + j)))
		}
		f.Add(b)
	}
	f.Add([]byte{15, 0, 0, 0}) // close early
	seeds := make([]byte, 0, 64)
	for range 16 {
		seeds = append(seeds, 0, 4, 0, 1, 11, 0) // reserve, alloc(0), commit
	}
	f.Add(seeds)
	var p *linkPair
	for _, q := range pairs(false) {
		if q.client.pipe != nil {
			p = &q
			break
		}
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if p == nil {
			t.Skip("no in-process engine")
		}
		if len(prog) > 4096 {
			prog = prog[:4096]
		}
		// A hang fails the input within the fuzzer's own 10 s limit.
		runModel(t, *p, &byteChooser{b: prog}, 5*time.Second)
	})
}
