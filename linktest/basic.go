package linktest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/framelink/framelink"
)

// testSplit: both halves of both links used at once from four goroutines,
// full duplex.
// r[verify link.split]
func (s *suite) testSplit(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	const n = 500
	sender := func(l framelink.Link, g uint32) func() error {
		return func() error { return sendFrames(ctx, l, g, n) }
	}
	receiver := func(l framelink.Link, g uint32) func() error {
		return func() error {
			for seq := range uint32(n) {
				f, err := l.Rx().Recv(ctx)
				if err != nil {
					return fmt.Errorf("receiving seq %d from %d: %w", seq, g, err)
				}
				fg, fs, err := checkFrame(f.Bytes())
				f.Release()
				if err != nil {
					return err
				}
				if fg != g || fs != seq {
					return fmt.Errorf("got frame (%d, %d), want (%d, %d)", fg, fs, g, seq)
				}
			}
			return nil
		}
	}
	ab, ba := goErr(sender(a, 1)), goErr(sender(b, 2))
	ra, rb := goErr(receiver(a, 2)), goErr(receiver(b, 1))
	wait(t, ctx, "a.Tx", ab)
	wait(t, ctx, "b.Tx", ba)
	wait(t, ctx, "a.Rx", ra)
	wait(t, ctx, "b.Rx", rb)
}

// testSplitBlocked: a sending half blocked by backpressure does not hold
// up the receiving half of the same link, nor the peer's sending half.
// r[verify link.split] r[verify link.tx.backpressure]
func (s *suite) testSplitBlocked(t *testing.T) {
	ctx := s.ctx(t)
	a, b, n := s.blocked(t, ctx, 1)
	pending := goErr(func() error { return sendSlot(ctx, a, makeFrame(2, 0)) })
	done := goErr(func() error { return sendFrames(ctx, b, 3, 200) })
	if err := drain(ctx, a, map[uint32]uint32{3: 200}, 0); err != nil {
		t.Fatalf("a receiving while its Tx is blocked: %v", err)
	}
	wait(t, ctx, "b sending while a's Tx is blocked", done)
	if err := drain(ctx, b, map[uint32]uint32{1: n}, 2); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, "a's pending send", pending)
}

// messageSizes cross every interesting boundary: empty, around the header
// size, around common buffer sizes.
var messageSizes = []int{0, 1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 255, 256, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 16383, 16384, 16385, 65535, 65536, 65537, 200000}

// testMessage: each frame is received as exactly one payload.
// r[verify link.message] r[verify link.tx.reserve]
func (s *suite) testMessage(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	done := goErr(func() error {
		for i, n := range messageSizes {
			p := pattern(n, byte(i))
			var err error
			if i%2 == 0 {
				err = a.Tx().Send(ctx, p)
			} else {
				err = sendSlot(ctx, a, p)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	for i, n := range messageSizes {
		expectFrame(t, ctx, b, pattern(n, byte(i)))
	}
	wait(t, ctx, "sending", done)
}

// testOrder: many small frames arrive in commit order, none lost or
// duplicated.
// r[verify link.order]
func (s *suite) testOrder(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	const n = 10000
	done := goErr(func() error { return sendFrames(ctx, a, 7, n) })
	for seq := range uint32(n) {
		g, got, err := checkFrame(recv(t, ctx, b))
		if err != nil {
			t.Fatal(err)
		}
		if g != 7 || got != seq {
			t.Fatalf("frame #%d is (%d, %d), want (7, %d): order broken", seq, g, got, seq)
		}
	}
	wait(t, ctx, "sending", done)
}

// testEmpty: empty frames, sent every way, are delivered as empty frames
// and keep their boundaries.
// r[verify wire.empty]
func (s *suite) testEmpty(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	send(t, ctx, a, nil)
	send(t, ctx, a, []byte{})
	send(t, ctx, a, []byte("x"))
	if err := sendSlot(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, a, nil)
	send(t, ctx, a, []byte("yz"))
	for _, want := range []string{"", "", "x", "", "", "yz"} {
		expectFrame(t, ctx, b, []byte(want))
	}
}

// testLarge: 1 MiB and 4 MiB frames under the default maximum arrive
// intact, through both send paths.
// r[verify link.message]
func (s *suite) testLarge(t *testing.T) {
	ctx := s.ctx(t)
	a, b := s.pair(t, framelink.Options{})
	big := pattern(1<<20, 0x5a)
	huge := pattern(4<<20+3, 0xa5)
	done := goErr(func() error {
		if err := a.Tx().Send(ctx, big); err != nil {
			return err
		}
		if err := sendSlot(ctx, a, huge); err != nil {
			return err
		}
		return a.Tx().Send(ctx, []byte("end"))
	})
	expectFrame(t, ctx, b, big)
	expectFrame(t, ctx, b, huge)
	expectFrame(t, ctx, b, []byte("end"))
	wait(t, ctx, "sending", done)
}

// testMaxFrame: a frame of exactly MaxFrame bytes goes through, one byte
// more is refused by the sender with ErrFrameTooLarge and nothing is
// published; MaxFrame = 1 works.
// r[verify wire.max] r[verify link.tx.alloc.limits]
func (s *suite) testMaxFrame(t *testing.T) {
	for _, max := range []uint32{1, 4, 1000, 64 << 10} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			ctx := s.ctx(t)
			a, b := s.pair(t, framelink.Options{MaxFrame: max})
			full := pattern(int(max), 3)
			send(t, ctx, a, full)
			err := a.Tx().Send(ctx, pattern(int(max)+1, 4))
			if !errors.Is(err, framelink.ErrFrameTooLarge) {
				t.Fatalf("Send(MaxFrame+1 bytes) = %v, want ErrFrameTooLarge", err)
			}
			if err := sendSlot(ctx, a, full); err != nil {
				t.Fatal(err)
			}
			send(t, ctx, a, nil)
			expectFrame(t, ctx, b, full)
			expectFrame(t, ctx, b, full)
			expectFrame(t, ctx, b, nil)
		})
	}
}
