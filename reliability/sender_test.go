package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/framelink/framelink"
)

// errStopped reports that a sender stopped because its Tx was closed.
var errStopped = errors.New("sender stopped: Tx closed")

// A streamSender sends the frames of one stream on a Tx through random
// sequences of Reserve, Release, dropped permits, Alloc, Discard, misuse
// and Commit (r[link.tx.reserve], r[link.tx.permit.release],
// r[link.tx.discard], r[link.tx.misuse], r[link.tx.alloc.limits]). next is
// the number of frames whose Commit (or Send) returned nil: exactly those
// must reach the peer.
type streamSender struct {
	tx     framelink.Tx
	stream uint32
	max    int
	rng    *rand.Rand
	next   uint32
	buf    []byte // for Send
	ops    opCounts
}

// opCounts counts the operations a sender performed, for the report.
type opCounts struct {
	reserve, release, drop, alloc, discard, misuse, commit, send, pairs, cancel uint64
}

func (a *opCounts) add(b opCounts) {
	a.reserve += b.reserve
	a.release += b.release
	a.drop += b.drop
	a.alloc += b.alloc
	a.discard += b.discard
	a.misuse += b.misuse
	a.commit += b.commit
	a.send += b.send
	a.pairs += b.pairs
	a.cancel += b.cancel
}

func newStreamSender(tx framelink.Tx, stream uint32, max int, seed uint64) *streamSender {
	return &streamSender{tx: tx, stream: stream, max: max, rng: rand.New(rand.NewPCG(seed, uint64(stream)))}
}

// closedErr reports whether err says the Tx (or link) was closed.
func closedErr(err error) bool { return errors.Is(err, framelink.ErrClosed) }

// reserve returns a permit, going through random detours that must
// publish nothing.
func (s *streamSender) reserve(ctx context.Context) (framelink.Permit, error) {
	for {
		s.ops.reserve++
		if s.rng.IntN(64) == 0 {
			// r[verify link.tx.cancel]: a cancelled Reserve publishes nothing.
			s.ops.cancel++
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			p, err := s.tx.Reserve(cctx)
			if err == nil {
				return p, fmt.Errorf("Reserve with a cancelled context returned a permit")
			}
			if closedErr(err) {
				return p, errStopped
			}
			if !errors.Is(err, context.Canceled) {
				return p, fmt.Errorf("Reserve with a cancelled context: %v, want context.Canceled", err)
			}
			continue
		}
		p, err := s.tx.Reserve(ctx)
		if err != nil {
			if closedErr(err) {
				return p, errStopped
			}
			return p, fmt.Errorf("Reserve: %w", err)
		}
		switch s.rng.IntN(32) {
		case 0, 1: // give it back
			s.ops.release++
			if err := p.Release(); err != nil {
				return p, fmt.Errorf("Release of a fresh permit: %v", err)
			}
			if s.rng.IntN(2) == 0 {
				s.ops.misuse++
				if err := p.Release(); !errors.Is(err, framelink.ErrPermitUsed) {
					return p, fmt.Errorf("second Release: %v, want ErrPermitUsed", err)
				}
				if _, err := p.Alloc(1); !errors.Is(err, framelink.ErrPermitUsed) {
					return p, fmt.Errorf("Alloc after Release: %v, want ErrPermitUsed", err)
				}
			}
			continue
		case 2: // drop it: must not stall the link
			s.ops.drop++
			continue
		case 3, 4: // alloc something, scribble, discard
			s.ops.alloc++
			sl, err := p.Alloc(s.rng.IntN(s.max + 1))
			if err != nil {
				if closedErr(err) {
					return p, errStopped
				}
				return p, fmt.Errorf("Alloc: %w", err)
			}
			b := sl.Bytes()
			for i := range b {
				b[i] = 0xee
			}
			s.ops.discard++
			if err := sl.Discard(); err != nil {
				return p, fmt.Errorf("Discard: %v", err)
			}
			if s.rng.IntN(2) == 0 {
				s.ops.misuse++
				if err := sl.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
					return p, fmt.Errorf("Commit after Discard: %v, want ErrPermitUsed", err)
				}
				if err := sl.Discard(); !errors.Is(err, framelink.ErrPermitUsed) {
					return p, fmt.Errorf("second Discard: %v, want ErrPermitUsed", err)
				}
			}
			continue
		case 5: // over the limit, or negative
			s.ops.misuse++
			n, want := s.max+1, framelink.ErrFrameTooLarge
			if s.rng.IntN(2) == 0 {
				n, want = -1, framelink.ErrNegativeSize
			}
			if _, err := p.Alloc(n); !errors.Is(err, want) {
				if closedErr(err) {
					return p, errStopped
				}
				return p, fmt.Errorf("Alloc(%d): %v, want %v", n, err, want)
			}
			if _, err := p.Alloc(0); !errors.Is(err, framelink.ErrPermitUsed) {
				return p, fmt.Errorf("Alloc after a failed Alloc: %v, want ErrPermitUsed", err)
			}
			continue
		}
		return p, nil
	}
}

// alloc allocates the slot for frame seq on p and checks its size.
func (s *streamSender) alloc(p framelink.Permit, seq uint32) (framelink.Slot, error) {
	n := frameLen(s.stream, seq, s.max)
	s.ops.alloc++
	sl, err := p.Alloc(n)
	if err != nil {
		if closedErr(err) {
			return sl, errStopped
		}
		return sl, fmt.Errorf("Alloc(%d): %w", n, err)
	}
	if len(sl.Bytes()) != n || sl.Len() != n {
		sl.Discard()
		return sl, fmt.Errorf("Alloc(%d) gave %d bytes", n, len(sl.Bytes()))
	}
	if s.rng.IntN(8) == 0 {
		b := sl.Bytes()
		for i := range b {
			b[i] = 0xdd // overwritten below: Commit takes the bytes as they are then
		}
	}
	return sl, nil
}

// commit commits sl and counts it; a closed Tx stops the sender.
func (s *streamSender) commit(sl framelink.Slot) error {
	s.ops.commit++
	if err := sl.Commit(); err != nil {
		if closedErr(err) {
			return errStopped
		}
		return fmt.Errorf("Commit: %w", err)
	}
	s.next++
	if s.rng.IntN(16) == 0 {
		s.ops.misuse++
		if err := sl.Commit(); !errors.Is(err, framelink.ErrPermitUsed) {
			return fmt.Errorf("second Commit: %v, want ErrPermitUsed", err)
		}
	}
	return nil
}

// sendOne sends frame s.next (sometimes s.next and the one after).
// It returns errStopped once the Tx is closed.
func (s *streamSender) sendOne(ctx context.Context) error {
	switch s.rng.IntN(16) {
	case 0: // one-call Send
		n := frameLen(s.stream, s.next, s.max)
		if cap(s.buf) < n {
			s.buf = make([]byte, s.max)
		}
		b := s.buf[:n]
		fillFrame(b, s.stream, s.next, s.rng.Uint64())
		s.ops.send++
		if err := s.tx.Send(ctx, b); err != nil {
			if closedErr(err) {
				return errStopped
			}
			return fmt.Errorf("Send: %w", err)
		}
		s.next++
		return nil
	case 1: // two permits at once, committed in the reverse order of Alloc
		s.ops.pairs++
		p1, err := s.reserve(ctx)
		if err != nil {
			return err
		}
		p2, err := s.reserve(ctx)
		if err != nil {
			p1.Release()
			return err
		}
		late, err := s.alloc(p1, s.next+1)
		if err != nil {
			p2.Release()
			return err
		}
		early, err := s.alloc(p2, s.next)
		if err != nil {
			late.Discard()
			return err
		}
		fillFrame(early.Bytes(), s.stream, s.next, s.rng.Uint64())
		if err := s.commit(early); err != nil {
			late.Discard()
			return err
		}
		fillFrame(late.Bytes(), s.stream, s.next, s.rng.Uint64())
		return s.commit(late)
	}
	p, err := s.reserve(ctx)
	if err != nil {
		return err
	}
	sl, err := s.alloc(p, s.next)
	if err != nil {
		return err
	}
	fillFrame(sl.Bytes(), s.stream, s.next, s.rng.Uint64())
	return s.commit(sl)
}
