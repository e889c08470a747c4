package framelink

// A Frame is one received payload, returned by Rx.Recv. Its bytes stay
// valid and unchanged until Release; after Release they go back to the
// pool and must not be touched (r[link.rx.recv]).
//
// A Frame is a small value. Release it exactly once; a Frame that is never
// released is only garbage for the collector.
type Frame struct {
	b   []byte
	rel FrameReleaser
}

// FrameReleaser is implemented by engines: ReleaseFrame takes back the
// memory of a frame handed out by NewFrame.
type FrameReleaser interface {
	ReleaseFrame(b []byte)
}

// NewFrame is for engines: a Frame over b, given back to r (if not nil) on
// Release.
func NewFrame(b []byte, r FrameReleaser) Frame { return Frame{b: b, rel: r} }

// Bytes returns the payload. It is valid until Release.
func (f Frame) Bytes() []byte { return f.b }

// Len returns the payload length.
func (f Frame) Len() int { return len(f.b) }

// Release gives the frame's memory back.
func (f Frame) Release() {
	if f.rel != nil {
		f.rel.ReleaseFrame(f.b)
	}
}
