// Package gnetcodec drops framelink's wire format ([u32 little-endian
// length][payload]) into an existing gnet.EventHandler
// (r[transport.gnet.embed]): Decode, called from the handler's own
// OnTraffic, consumes every whole frame gnet holds for a connection
// (frames split across calls, many per call); Write and Writev send
// frames with gnet's vectored writes.
//
// The codec keeps no per-connection state at all: a frame that is not
// whole yet simply stays in gnet's inbound buffer until the next
// OnTraffic, so the user's gnet Context stays free and there is nothing
// to clean up in OnClose. A Codec is safe for concurrent use by every
// event loop.
//
//	codec := gnetcodec.New(1 << 20)
//	func (h *myHandler) OnTraffic(c gnet.Conn) gnet.Action {
//		if err := codec.Decode(c, func(p []byte) error {
//			return codec.Write(c, h.handle(p))
//		}); err != nil {
//			return gnet.Close
//		}
//		return gnet.None
//	}
package gnetcodec

import (
	"encoding/binary"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// Codec decodes and encodes frames on gnet connections. The zero value is
// not usable; call New.
type Codec struct {
	max uint32
}

// New returns a Codec that rejects frames above maxFrame bytes (0 means
// framelink.DefaultMaxFrame, 16 MiB).
func New(maxFrame uint32) *Codec {
	if maxFrame == 0 {
		maxFrame = framelink.DefaultMaxFrame
	}
	return &Codec{max: maxFrame}
}

// MaxFrame returns the largest payload accepted.
func (k *Codec) MaxFrame() uint32 { return k.max }

// Decode calls fn with each whole frame c holds, in order, and consumes
// it. Call it from OnTraffic (on c's event loop): gnet calls OnTraffic
// only when new bytes arrive, so Decode never leaves a whole frame
// behind unless fn fails.
//
// payload points into gnet's input memory where the frame is contiguous
// there (zero copy), else into a copy gnet made; either way it is valid
// only until fn returns, because gnet reuses that memory for later reads.
// Copy what you keep.
//
// A frame that is not whole stays in gnet's inbound buffer for the next
// call. A header declaring more than MaxFrame returns a
// *framelink.FrameTooLargeError (matching framelink.ErrFrameTooLarge)
// before anything of that frame is buffered by the codec; the caller
// should close the connection (return gnet.Close). If fn returns an
// error, Decode stops: that frame is consumed, later ones stay buffered,
// and the error is returned.
// r[impl transport.gnet.embed] r[impl wire.max]
func (k *Codec) Decode(c gnet.Conn, fn func(payload []byte) error) error {
	for {
		avail := c.InboundBuffered()
		if avail < codec.HeaderSize {
			return nil
		}
		hdr, err := c.Peek(codec.HeaderSize)
		if err != nil {
			return nil
		}
		n := binary.LittleEndian.Uint32(hdr)
		if err := codec.CheckSize(uint64(n), k.max); err != nil {
			return err
		}
		total := codec.HeaderSize + int(n)
		if avail < total {
			return nil
		}
		win, err := c.Peek(total)
		if err != nil {
			return nil
		}
		err = fn(win[codec.HeaderSize:total:total])
		_, _ = c.Discard(total)
		if err != nil {
			return err
		}
	}
}

// Pending reports whether c holds the start of a frame that is not whole:
// in OnClose, a pending frame means the stream was truncated
// (io.ErrUnexpectedEOF), none a clean end on a frame boundary.
func (k *Codec) Pending(c gnet.Conn) bool { return c.InboundBuffered() > 0 }

// smallFrame is the largest payload Write copies behind its header into
// one pool buffer (one write, no vector); larger ones go out as a
// two-element writev with no copy.
const smallFrame = 2 << 10

// vec is the scratch of one vectored write.
type vec struct {
	hdr [codec.HeaderSize]byte
	iov [][]byte
}

var vecPool = sync.Pool{New: func() any { return &vec{iov: make([][]byte, 0, 16)} }}

// Write sends payload as one frame on c. Call it on c's event loop (from
// a gnet callback); from other goroutines use AsyncWrite. payload is not
// retained: gnet writes what the socket takes and copies the rest into its
// outbound buffer before Write returns. It does not allocate.
func (k *Codec) Write(c gnet.Conn, payload []byte) error {
	if err := codec.CheckSize(uint64(len(payload)), k.max); err != nil {
		return err
	}
	if len(payload) <= smallFrame {
		b := pool.Get(codec.HeaderSize + len(payload))
		codec.PutHeader(b, uint32(len(payload)))
		copy(b[codec.HeaderSize:], payload)
		_, err := c.Write(b)
		pool.Put(b)
		return err
	}
	v := vecPool.Get().(*vec)
	codec.PutHeader(v.hdr[:], uint32(len(payload)))
	v.iov = append(v.iov[:0], v.hdr[:], payload)
	_, err := c.Writev(v.iov)
	clear(v.iov)
	vecPool.Put(v)
	return err
}

// Writev sends each payload as one frame, all in one vectored write. Call
// it on c's event loop. The payloads are not retained.
func (k *Codec) Writev(c gnet.Conn, payloads ...[]byte) error {
	for _, p := range payloads {
		if err := codec.CheckSize(uint64(len(p)), k.max); err != nil {
			return err
		}
	}
	hdrs := pool.Get(codec.HeaderSize * len(payloads))
	v := vecPool.Get().(*vec)
	iov := v.iov[:0]
	for i, p := range payloads {
		h := hdrs[i*codec.HeaderSize : (i+1)*codec.HeaderSize]
		codec.PutHeader(h, uint32(len(p)))
		iov = append(iov, h, p)
	}
	var err error
	for i := 0; i < len(iov) && err == nil; i += 1024 { // IOV_MAX on Linux
		_, err = c.Writev(iov[i:min(i+1024, len(iov))])
	}
	clear(iov)
	v.iov = iov[:0]
	vecPool.Put(v)
	pool.Put(hdrs)
	return err
}

// AsyncWrite sends payload as one frame from any goroutine: it is copied
// into a pool buffer (so the caller may reuse payload at once) and handed
// to gnet's AsyncWrite; cb, if not nil, runs on c's loop afterwards.
func (k *Codec) AsyncWrite(c gnet.Conn, payload []byte, cb gnet.AsyncCallback) error {
	if err := codec.CheckSize(uint64(len(payload)), k.max); err != nil {
		return err
	}
	b := pool.Get(codec.HeaderSize + len(payload))
	codec.PutHeader(b, uint32(len(payload)))
	copy(b[codec.HeaderSize:], payload)
	return c.AsyncWrite(b, func(c gnet.Conn, err error) error {
		pool.Put(b)
		if cb != nil {
			return cb(c, err)
		}
		return nil
	})
}
