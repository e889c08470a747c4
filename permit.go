package framelink

// A Permit is the right to send one frame on a Tx, returned by Reserve. It
// is a small value: copy it freely, but use it once. A Permit holds no
// memory and no capacity until Alloc; one that is dropped costs nothing.
//
// The zero Permit is unusable: its methods return ErrPermitUsed.
type Permit struct {
	impl PermitImpl
	id   uint64
}

// PermitImpl is implemented by engines. id lets the engine tell a stale
// Permit from a live one, so misuse returns ErrPermitUsed instead of
// corrupting the stream. Applications do not call it directly.
type PermitImpl interface {
	AllocSlot(id uint64, n int) (Slot, error)
	ReleasePermit(id uint64) error
}

// NewPermit is for engines: it returns a Permit bound to impl under id.
func NewPermit(impl PermitImpl, id uint64) Permit { return Permit{impl: impl, id: id} }

// Alloc returns a Slot whose Bytes are exactly n writable bytes in memory
// owned by the transport, with room for the header in front. n above the
// link's maximum frame length returns an error matching ErrFrameTooLarge;
// negative n returns ErrNegativeSize; a Permit already used returns
// ErrPermitUsed. On error the Permit is consumed and holds nothing.
// (r[link.tx.reserve], r[link.tx.alloc.limits])
func (p Permit) Alloc(n int) (Slot, error) {
	if p.impl == nil {
		return Slot{}, ErrPermitUsed
	}
	return p.impl.AllocSlot(p.id, n)
}

// Release gives the Permit back without sending anything
// (r[link.tx.permit.release]). Releasing a Permit that was already used
// returns ErrPermitUsed.
func (p Permit) Release() error {
	if p.impl == nil {
		return ErrPermitUsed
	}
	return p.impl.ReleasePermit(p.id)
}

// A Slot is the space for one frame, returned by Permit.Alloc. Write the
// payload into Bytes, then Commit it, or Discard it. Every Slot must end in
// exactly one Commit or Discard; a Slot dropped without either is a caller
// bug: the link may stall, but never publishes partial bytes.
//
// A Slot is used by one goroutine at a time. The zero Slot is unusable.
type Slot struct {
	impl SlotImpl
	id   uint64
	buf  []byte
}

// SlotImpl is implemented by engines; see PermitImpl.
type SlotImpl interface {
	CommitSlot(id uint64) error
	DiscardSlot(id uint64) error
}

// NewSlot is for engines: it returns a Slot bound to impl under id whose
// payload space is buf (len(buf) is the frame length).
func NewSlot(impl SlotImpl, id uint64, buf []byte) Slot { return Slot{impl: impl, id: id, buf: buf} }

// Bytes returns the payload space: exactly the n bytes asked of Alloc, in
// transport-owned memory. It is valid until Commit or Discard; after that
// the caller must not touch it.
func (s Slot) Bytes() []byte { return s.buf }

// Len returns the payload length of the Slot.
func (s Slot) Len() int { return len(s.buf) }

// Commit publishes the Slot's bytes, as they are now, as one frame
// (r[link.tx.commit]). It does not wait for the network. After Commit the
// caller no longer owns Bytes. A second Commit, or Commit after Discard,
// returns ErrPermitUsed and publishes nothing (r[link.tx.misuse]).
func (s Slot) Commit() error {
	if s.impl == nil {
		return ErrPermitUsed
	}
	return s.impl.CommitSlot(s.id)
}

// Discard gives the Slot back: nothing is published and its memory and
// capacity return to the link (r[link.tx.discard]).
func (s Slot) Discard() error {
	if s.impl == nil {
		return ErrPermitUsed
	}
	return s.impl.DiscardSlot(s.id)
}
