package linktest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/framelink/framelink"
)

func (s *suite) runRaw(t *testing.T) {
	s.run(t, "Write", func(t *testing.T) {
		s.run(t, "Frames", s.testWriteFrames)
		s.run(t, "LoneFrame", s.testWriteLone)
		s.run(t, "Coalesce", s.testWriteCoalesce)
	})
	s.run(t, "Read", func(t *testing.T) {
		s.run(t, "Frames", s.testReadFrames)
		s.run(t, "Empty", s.testReadEmpty)
		s.run(t, "ByteAtATime", s.testReadByteAtATime)
		s.run(t, "ManyInOneWrite", s.testReadMany)
		s.run(t, "Chunked", s.testReadChunked)
		s.run(t, "CancelMidFrame", s.testReadCancelMidFrame)
		s.run(t, "MaxFrame", s.testReadMaxFrame)
		s.run(t, "Oversize", s.testReadOversize)
		s.run(t, "OversizeByOne", s.testReadOversizeByOne)
		s.run(t, "TruncatedHeader", s.testReadTruncatedHeader)
		s.run(t, "TruncatedPayload", s.testReadTruncatedPayload)
		s.run(t, "EOF", s.testReadEOF)
		s.run(t, "EOFAtStart", s.testReadEOFAtStart)
	})
}

// encode returns the wire bytes of the frames ps.
func encode(ps ...[]byte) []byte {
	var b []byte
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// header returns the 4 header bytes declaring n.
func header(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }

// peerWrite writes each chunk with its own Write call, in a goroutine (a
// net.Pipe peer blocks until the link reads), then closes peer if
// closeAfter is set. The returned channel yields the first write error.
func peerWrite(peer net.Conn, closeAfter bool, chunks ...[]byte) <-chan error {
	return goErr(func() error {
		var err error
		for _, c := range chunks {
			if _, err = peer.Write(c); err != nil {
				break
			}
		}
		if closeAfter {
			peer.Close()
		}
		return err
	})
}

// peerSends writes chunks from the peer (each with its own Write), then
// closes it, and checks that l receives the frames want, in order, then
// io.EOF eofs times.
func peerSends(t *testing.T, ctx context.Context, l framelink.Link, peer net.Conn, want [][]byte, eofs int, chunks ...[]byte) {
	t.Helper()
	done := peerWrite(peer, true, chunks...)
	for _, p := range want {
		expectFrame(t, ctx, l, p)
	}
	expectEOF(t, ctx, l, eofs)
	wait(t, ctx, "the peer writing", done)
}

// expectDead checks that Recv fails n times in a row and never returns a
// frame (r[link.rx.error]).
func expectDead(t *testing.T, ctx context.Context, l framelink.Link, n int) {
	t.Helper()
	for i := range n {
		f, err := l.Rx().Recv(ctx)
		if err == nil {
			t.Fatalf("Recv #%d after a receive error returned a frame of %d bytes (r[link.rx.error])", i+1, f.Len())
		}
		if ctx.Err() != nil {
			t.Fatalf("Recv #%d after a receive error waited until the deadline (%v); want an error at once", i+1, err)
		}
	}
}

// expectRecvErr receives on l and checks the error matches target.
func expectRecvErr(t *testing.T, ctx context.Context, l framelink.Link, target error) error {
	t.Helper()
	f, err := l.Rx().Recv(ctx)
	if err == nil {
		t.Fatalf("Recv returned a frame of %d bytes, want %v", f.Len(), target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("Recv = %v, want %v", err, target)
	}
	return err
}

// testWriteFrames: the link writes exactly [u32 LE len][payload] per frame
// and nothing else, through both send paths, and Tx.Close ends the stream
// right after the last frame.
// r[verify wire.frame] r[verify wire.empty] r[verify link.tx.close]
func (s *suite) testWriteFrames(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	var ps [][]byte
	for i, n := range []int{0, 1, 5, 300, 0, 70000, 4, 3, 1<<20 + 1, 7} {
		ps = append(ps, pattern(n, byte(i)))
	}
	done := goErr(func() error {
		for i, p := range ps {
			var err error
			if i%2 == 0 {
				err = l.Tx().Send(ctx, p)
			} else {
				err = sendSlot(ctx, l, p)
			}
			if err != nil {
				return err
			}
		}
		return l.Tx().Close()
	})
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("reading the link's bytes until its Tx.Close: %v", err)
	}
	want := encode(ps...)
	if !bytesEqual(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the link wrote %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
	}
	wait(t, ctx, "sending then Tx.Close", done)
}

// testWriteLone: a lone frame is written without waiting for company: the
// peer reads it whole while the link commits nothing else.
// r[verify link.tx.coalesce]
func (s *suite) testWriteLone(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	for i := range 5 {
		p := pattern(i*10, byte(i))
		send(t, ctx, l, p)
		got := make([]byte, 4+len(p))
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatalf("lone frame #%d never arrived whole (is the link waiting for more frames?): %v", i, err)
		}
		if want := encode(p); !bytesEqual(got, want) {
			t.Fatalf("lone frame #%d: wrote %x, want %x", i, got, want)
		}
	}
}

// testWriteCoalesce: many goroutines committing at once (so frames pile
// up while a write is in flight and go out together): every frame is on
// the wire whole, in per-sender order, byte-exact.
// r[verify link.tx.coalesce] r[verify link.tx.concurrent] r[verify wire.frame]
func (s *suite) testWriteCoalesce(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{HighWater: 256 << 10, LowWater: 64 << 10})
	const senders, frames = 8, 500
	var errs []<-chan error
	for g := uint32(1); g <= senders; g++ {
		errs = append(errs, goErr(func() error { return sendFrames(ctx, l, g, frames) }))
	}
	closed := goErr(func() error {
		for i, c := range errs {
			if err := <-c; err != nil {
				return fmt.Errorf("sender %d: %w", i+1, err)
			}
		}
		return l.Tx().Close()
	})
	br := bufio.NewReader(peer)
	next := map[uint32]uint32{}
	for range senders * frames {
		var h [4]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading a header: %v", err)
		}
		p := make([]byte, binary.LittleEndian.Uint32(h[:]))
		if len(p) > maxTestFrame {
			t.Fatalf("header declares %d bytes, more than any frame sent: frames interleaved", len(p))
		}
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatalf("reading a payload: %v", err)
		}
		g, seq, err := checkFrame(p)
		if err != nil {
			t.Fatal(err)
		}
		if seq != next[g] {
			t.Fatalf("frame (%d, %d) on the wire, want (%d, %d)", g, seq, g, next[g])
		}
		next[g]++
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the last frame and Tx.Close: read %d bytes, %v; want io.EOF", n, err)
	}
	wait(t, ctx, "senders and Tx.Close", closed)
}

// testReadFrames: frames written separately, of every size, are received
// with their boundaries.
// r[verify wire.frame] r[verify link.message]
func (s *suite) testReadFrames(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	var chunks [][]byte
	for i, n := range messageSizes {
		chunks = append(chunks, encode(pattern(n, byte(i))))
	}
	done := peerWrite(peer, false, chunks...)
	for i, n := range messageSizes {
		expectFrame(t, ctx, l, pattern(n, byte(i)))
	}
	wait(t, ctx, "the peer writing", done)
}

// testReadEmpty: len = 0 frames are delivered as empty payloads.
// r[verify wire.empty]
func (s *suite) testReadEmpty(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	want := [][]byte{nil, nil, []byte("x"), nil, nil}
	peerSends(t, ctx, l, peer, want, 2, encode(nil, nil, []byte("x"), nil), header(0))
}

// testReadByteAtATime: frames arriving one byte per write are decoded
// whole.
// r[verify wire.frame] r[verify link.message]
func (s *suite) testReadByteAtATime(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	sizes := []int{0, 1, 2, 3, 4, 5, 17, 255, 256, 1000, 0}
	var ps [][]byte
	for i, n := range sizes {
		ps = append(ps, pattern(n, byte(i)))
	}
	var chunks [][]byte
	for _, c := range encode(ps...) {
		chunks = append(chunks, []byte{c})
	}
	peerSends(t, ctx, l, peer, ps, 2, chunks...)
}

// testReadMany: 10,000 frames in one write are all received, in order.
// r[verify wire.frame] r[verify link.order]
func (s *suite) testReadMany(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	const n = 10000
	var ps [][]byte
	for seq := range n {
		p := binary.LittleEndian.AppendUint32(nil, uint32(seq))
		ps = append(ps, append(p, pattern(seq%29, byte(seq))...))
	}
	peerSends(t, ctx, l, peer, ps, 1, encode(ps...))
}

// testReadChunked: frames of every size, up to larger than any read
// buffer, written in chunks of pseudo-random sizes that cut headers and
// payloads anywhere, are received whole.
// r[verify wire.frame] r[verify link.message]
func (s *suite) testReadChunked(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	rng := uint32(12345)
	next := func(n int) int { // xorshift: deterministic, no shared state
		rng ^= rng << 13
		rng ^= rng >> 17
		rng ^= rng << 5
		return int(rng % uint32(n))
	}
	var ps [][]byte
	for i := range 300 {
		n := next(64)
		switch i % 10 {
		case 0:
			n = next(200000)
		case 1, 2:
			n = next(5000)
		}
		ps = append(ps, pattern(n, byte(i)))
	}
	wire := encode(ps...)
	var chunks [][]byte
	for len(wire) > 0 {
		n := min(1+next(9000), len(wire))
		if next(4) == 0 {
			n = min(1+next(5), len(wire))
		}
		chunks = append(chunks, wire[:n])
		wire = wire[n:]
	}
	peerSends(t, ctx, l, peer, ps, 1, chunks...)
}

// testReadCancelMidFrame: a Recv whose context ends while a frame is half
// arrived (inside the header, inside a small payload, inside a payload
// larger than any read buffer) returns the context's error, and the next
// Recv returns that frame whole: nothing is lost or corrupted.
// r[verify link.rx.recv] r[verify link.errors]
func (s *suite) testReadCancelMidFrame(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	for i, tc := range []struct{ size, cut int }{{10, 2}, {10, 7}, {300000, 4}, {300000, 100000}, {300000, 299999}} {
		p := pattern(tc.size, byte(i))
		w := encode(p)
		// The second part is written only after the cancelled Recvs; the
		// first may still be in flight during them (a net.Pipe write
		// completes as the link reads it).
		release := make(chan struct{})
		done := goErr(func() error {
			if _, err := peer.Write(w[:tc.cut]); err != nil {
				return err
			}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := peer.Write(w[tc.cut:])
			return err
		})
		for j := range 3 {
			var rctx context.Context
			var cancel context.CancelFunc
			if j%2 == 0 {
				rctx, cancel = context.WithTimeout(ctx, probe)
			} else {
				rctx, cancel = context.WithCancel(ctx)
				go cancel()
			}
			f, err := l.Rx().Recv(rctx)
			cancel()
			if err == nil {
				t.Fatalf("Recv returned a frame of %d bytes with only %d of %d bytes written", f.Len(), tc.cut, len(w))
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("Recv with %d of %d bytes written, ctx ended: %v, want the context's error", tc.cut, len(w), err)
			}
		}
		close(release)
		expectFrame(t, ctx, l, p)
		wait(t, ctx, "the peer writing", done)
	}
	peer.Close()
	expectEOF(t, ctx, l, 1)
}

// testReadMaxFrame: a header declaring exactly MaxFrame is accepted.
// r[verify wire.max]
func (s *suite) testReadMaxFrame(t *testing.T) {
	ctx := s.ctx(t)
	const max = 1024
	l, peer := s.rawPair(t, framelink.Options{MaxFrame: max})
	full := pattern(max, 1)
	peerSends(t, ctx, l, peer, [][]byte{full, nil, full}, 1, encode(full, nil, full))
	if st := l.Stats(); st.Oversize != 0 || st.FramesIn != 3 || st.BytesIn != 2*max {
		t.Errorf("Stats after 3 frames at the limit: %+v", st)
	}
}

// testReadOversize: a 4 GiB header under a 1 KiB maximum is
// ErrFrameTooLarge with both sizes, counted in Oversize, allocates
// nothing near its declared size, kills the receiver (no later frame,
// even a valid one already written after it) and closes the connection.
// r[verify wire.max] r[verify link.rx.error] r[verify link.errors] r[verify link.stats]
func (s *suite) testReadOversize(t *testing.T) {
	s.oversize(t, 0xFFFFFFFF)
}

// testReadOversizeByOne: MaxFrame+1 is already too large.
// r[verify wire.max] r[verify link.rx.error]
func (s *suite) testReadOversizeByOne(t *testing.T) {
	s.oversize(t, 1025)
}

func (s *suite) oversize(t *testing.T, declared uint32) {
	ctx := s.ctx(t)
	const max = 1024
	l, peer := s.rawPair(t, framelink.Options{MaxFrame: max})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	peerWrite(peer, false, encode([]byte("ok")), header(declared), encode([]byte("after")))
	expectFrame(t, ctx, l, []byte("ok"))
	err := expectRecvErr(t, ctx, l, framelink.ErrFrameTooLarge)
	runtime.ReadMemStats(&after)
	var tl *framelink.FrameTooLargeError
	if !errors.As(err, &tl) || tl.Size != uint64(declared) || tl.Max != max {
		t.Errorf("oversize error %v: want a *FrameTooLargeError{Size: %d, Max: %d}", err, declared, max)
	}
	// Only a header far above anything else the process allocates meanwhile
	// makes this check meaningful.
	if grew := after.TotalAlloc - before.TotalAlloc; declared >= 1<<30 && grew > uint64(declared)/4 {
		t.Errorf("%d bytes allocated while rejecting a %d-byte header (limit %d): the frame was allocated", grew, declared, max)
	}
	if n := l.Stats().Oversize; n != 1 {
		t.Errorf("Stats().Oversize = %d after one oversize header, want 1", n)
	}
	expectDead(t, ctx, l, 3)
	// The link closes the connection: the peer's read ends (EOF or reset)
	// instead of waiting for the deadline.
	_, err = io.Copy(io.Discard, peer)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection stayed open after the oversize header (r[wire.max]: the receiver closes the link)")
	}
}

// testReadTruncatedHeader: a stream ending inside a header is
// io.ErrUnexpectedEOF, after the whole frames before it, and the receiver
// stays dead.
// r[verify wire.truncated] r[verify link.rx.error]
func (s *suite) testReadTruncatedHeader(t *testing.T) {
	for cut := 1; cut < 4; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			ctx := s.ctx(t)
			l, peer := s.rawPair(t, framelink.Options{})
			done := peerWrite(peer, true, encode([]byte("whole")), header(5)[:cut])
			expectFrame(t, ctx, l, []byte("whole"))
			expectRecvErr(t, ctx, l, io.ErrUnexpectedEOF)
			expectDead(t, ctx, l, 3)
			wait(t, ctx, "the peer writing", done)
		})
	}
}

// testReadTruncatedPayload: a stream ending inside a payload, small or
// larger than any read buffer, is io.ErrUnexpectedEOF.
// r[verify wire.truncated] r[verify link.rx.error]
func (s *suite) testReadTruncatedPayload(t *testing.T) {
	for _, tc := range []struct {
		name          string
		declared, got int
	}{{"Small", 10, 5}, {"Large", 300000, 100000}, {"HeaderOnly", 10, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := s.ctx(t)
			l, peer := s.rawPair(t, framelink.Options{})
			done := peerWrite(peer, true, encode([]byte("whole")), header(uint32(tc.declared)), pattern(tc.got, 1))
			expectFrame(t, ctx, l, []byte("whole"))
			expectRecvErr(t, ctx, l, io.ErrUnexpectedEOF)
			expectDead(t, ctx, l, 3)
			wait(t, ctx, "the peer writing", done)
		})
	}
}

// testReadEOF: a stream ending on a frame boundary is io.EOF, for good.
// r[verify wire.eof] r[verify link.rx.eof]
func (s *suite) testReadEOF(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	ps := [][]byte{[]byte("one"), pattern(100000, 2)}
	peerSends(t, ctx, l, peer, ps, 3, encode(ps...))
}

// testReadEOFAtStart: a stream closed before any byte is io.EOF.
// r[verify wire.eof] r[verify link.rx.eof]
func (s *suite) testReadEOFAtStart(t *testing.T) {
	ctx := s.ctx(t)
	l, peer := s.rawPair(t, framelink.Options{})
	peer.Close()
	expectEOF(t, ctx, l, 3)
}
