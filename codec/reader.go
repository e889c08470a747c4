package codec

import (
	"encoding/binary"
	"errors"
	"io"
	"os"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// DefaultReadBuffer is the read buffer size of a Reader: one Read syscall
// can bring in this many bytes of frames.
const DefaultReadBuffer = 16 << 10

// LazySource is an optional interface of a Reader's source: it waits until
// input is ready before it takes a buffer (from get), so an idle
// connection holds no read buffer (r[perf.idle]). It returns the buffer it
// read into (nil if it never called get) and the byte count.
type LazySource interface {
	ReadLazy(get func() []byte) (buf []byte, n int, err error)
}

// Reader decodes frames from an io.Reader, as many per Read as the read
// buffer holds. Frames are copied into pooled buffers that the caller owns
// (Next), or handed out as views into the read buffer, a frame at a time
// (NextView) or a run of whole frames at a time (NextBatch); a frame
// larger than the read buffer is read straight into its own buffer. The
// read buffer itself goes back to the pool whenever it is empty (after a
// view, on the next call).
//
// A Reader is used by one goroutine at a time.
type Reader struct {
	src     io.Reader
	lazy    LazySource
	get     func() []byte
	max     uint32
	bufSize int
	buf     []byte // nil while idle
	r, w    int
	large   []byte // a frame bigger than the read buffer, being read in place
	largeN  int    // bytes of large filled so far
	largeH  bool   // large holds the frame's header too (NextBatch began it)
	view    []byte // a large frame handed out by NextView or NextBatch, released next call
	held    bool   // NextView or NextBatch handed out a view of buf: release it next call
	err     error  // sticky
}

// NewReader returns a Reader of src that rejects frames above max.
func NewReader(src io.Reader, max uint32) *Reader {
	rd := &Reader{src: src, max: max, bufSize: DefaultReadBuffer}
	rd.lazy, _ = src.(LazySource)
	rd.get = rd.getBuf
	return rd
}

func (rd *Reader) getBuf() []byte { return pool.Get(rd.bufSize)[:rd.bufSize] }

// Buffered returns how many bytes are buffered but not yet returned.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// Ready reports whether Next would return without reading: a whole frame
// (or a header over the limit) is buffered.
func (rd *Reader) Ready() bool {
	if rd.err != nil {
		return true
	}
	if rd.large != nil {
		return false
	}
	avail := rd.w - rd.r
	if avail < HeaderSize {
		return false
	}
	n := binary.LittleEndian.Uint32(rd.buf[rd.r:])
	return n > rd.max || avail >= HeaderSize+int(n)
}

// Started reports whether part of a frame that is not yet whole has been
// read: the next read is in the middle of a frame, not between frames.
func (rd *Reader) Started() bool { return rd.large != nil || rd.w > rd.r }

// Next returns the next frame's payload in a buffer from pool.Get that the
// caller owns (give it back with pool.Put). A read that times out
// (errors.Is(err, os.ErrDeadlineExceeded)) is not sticky: the bytes read so
// far are kept, and Next may be called again to resume the same frame.
// Other errors are sticky:
//   - io.EOF: the stream ended on a frame boundary (r[wire.eof]);
//   - io.ErrUnexpectedEOF: it ended inside a header or payload
//     (r[wire.truncated]);
//   - framelink.ErrFrameTooLarge: a header declared more than max; no
//     buffer of that size was allocated (r[wire.max]);
//   - the source's error otherwise.
//
// r[impl wire.eof] r[impl wire.truncated]
func (rd *Reader) Next() ([]byte, error) { return rd.next(false) }

// NextView is Next without the copy, for a caller that is done with each
// frame before it asks for the next one: the payload is valid only until
// the next call to Next, NextView, NextBatch or Close, and the caller
// must not give it to pool.Put. A frame that fits the read buffer is a
// view into it; a larger one is read into its own pooled buffer, which
// the Reader takes back on the next call. Errors are as for Next.
func (rd *Reader) NextView() ([]byte, error) { return rd.next(true) }

// NextBatch is NextView for a run of frames: every whole frame buffered
// at the current position, up to limit bytes but at least one frame (as
// framelink.CutBatch), as a framelink.Batch over the read buffer. It
// reads only while no frame is whole, so a batch is typically what one
// read brought in. A frame larger than the read buffer is read into a
// pooled buffer of its own behind its 4-byte header and comes as a batch
// of one. The batch is the Reader's: valid until the next call to Next,
// NextView, NextBatch or Close, not to be modified or given to pool.Put.
// Errors are as for Next (a timeout is not sticky: the bytes read so far
// are kept, and the next call resumes), and the frames before an
// oversize header or a truncation come in batches first.
//
// The calls may be mixed: Next and NextView take up where NextBatch left
// off, and the other way round. A large frame left half read by a
// timeout is finished by whichever call comes next: NextView hands out
// the payload within NextBatch's buffer; Next copies a frame NextBatch
// began into a buffer of its own (what Next returns is always a whole
// pool buffer); NextBatch copies a frame Next or NextView began behind
// its header. Only a caller that mixes them after a timeout pays that
// copy.
// r[impl wire.eof] r[impl wire.truncated] r[impl wire.max]
func (rd *Reader) NextBatch(limit int) (framelink.Batch, error) {
	rd.releaseView()
	if rd.err != nil {
		return framelink.Batch{}, rd.err
	}
	if rd.large != nil {
		return rd.finishLargeBatch()
	}
	for {
		if avail := rd.w - rd.r; avail >= HeaderSize {
			n := binary.LittleEndian.Uint32(rd.buf[rd.r:])
			if err := CheckSize(uint64(n), rd.max); err != nil {
				return framelink.Batch{}, rd.fail(err)
			}
			total := HeaderSize + int(n)
			if avail >= total {
				b := framelink.CutBatch(rd.buf[rd.r:rd.w], rd.max, limit)
				rd.r += len(b.Bytes())
				rd.held = true
				return b, nil
			}
			if total > len(rd.buf) {
				rd.large = pool.Get(total)
				rd.largeH = true
				rd.largeN = copy(rd.large, rd.buf[rd.r:rd.w])
				rd.consume(rd.w - rd.r)
				return rd.finishLargeBatch()
			}
		}
		if err := rd.fill(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return framelink.Batch{}, err // resumable: keep what was read
			}
			return framelink.Batch{}, rd.fail(err)
		}
	}
}

// finishLargeBatch reads the rest of rd.large and hands it out as a batch
// of one, which the Reader takes back on the next call. A frame begun by
// Next or NextView (payload only) is first copied behind its header.
func (rd *Reader) finishLargeBatch() (framelink.Batch, error) {
	if !rd.largeH {
		n := len(rd.large)
		w := pool.Get(HeaderSize + n)
		PutHeader(w, uint32(n))
		rd.largeN = HeaderSize + copy(w[HeaderSize:], rd.large[:rd.largeN])
		pool.Put(rd.large)
		rd.large, rd.largeH = w, true
	}
	w, err := rd.readLarge()
	if err != nil {
		return framelink.Batch{}, err
	}
	rd.view = w
	return framelink.CutBatch(w, rd.max, 0), nil
}

func (rd *Reader) next(view bool) ([]byte, error) {
	rd.releaseView()
	if rd.err != nil {
		return nil, rd.err
	}
	if rd.large != nil {
		return rd.finishLarge(view)
	}
	for {
		if avail := rd.w - rd.r; avail >= HeaderSize {
			n := binary.LittleEndian.Uint32(rd.buf[rd.r:])
			if err := CheckSize(uint64(n), rd.max); err != nil {
				return nil, rd.fail(err)
			}
			total := HeaderSize + int(n)
			if avail >= total {
				if view {
					p := rd.buf[rd.r+HeaderSize : rd.r+total : rd.r+total]
					rd.r += total
					rd.held = true
					return p, nil
				}
				out := pool.Get(int(n))
				copy(out, rd.buf[rd.r+HeaderSize:rd.r+total])
				rd.consume(total)
				return out, nil
			}
			if total > len(rd.buf) {
				rd.large = pool.Get(int(n))
				rd.largeN = copy(rd.large, rd.buf[rd.r+HeaderSize:rd.w])
				rd.consume(rd.w - rd.r)
				return rd.finishLarge(view)
			}
		}
		if err := rd.fill(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err // resumable: keep what was read
			}
			return nil, rd.fail(err)
		}
	}
}

// finishLarge reads the rest of rd.large; for NextView the Reader keeps
// it, to take it back on the next call. A frame begun by NextBatch (its
// buffer starts with the header) is handed to NextView as the payload
// within that buffer, and to Next copied into a buffer of its own, so
// that what Next returns is always a whole pool buffer.
func (rd *Reader) finishLarge(view bool) ([]byte, error) {
	hdr := rd.largeH
	b, err := rd.readLarge()
	if err != nil {
		return nil, err
	}
	if view {
		rd.view = b
	}
	if !hdr {
		return b, nil
	}
	p := b[HeaderSize:len(b):len(b)]
	if view {
		return p, nil
	}
	out := pool.Get(len(p))
	copy(out, p)
	pool.Put(b)
	return out, nil
}

// releaseView takes back what the last NextView handed out.
func (rd *Reader) releaseView() {
	if rd.view != nil {
		pool.Put(rd.view)
		rd.view = nil
	}
	if rd.held {
		rd.held = false
		if rd.r == rd.w {
			pool.Put(rd.buf)
			rd.buf, rd.r, rd.w = nil, 0, 0
		}
	}
}

// consume advances past n bytes and releases the read buffer when empty.
func (rd *Reader) consume(n int) {
	rd.r += n
	if rd.r == rd.w {
		pool.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
}

// readLarge reads the rest of rd.large, a frame that does not fit the read
// buffer, in place. A timeout leaves it to be resumed by the next Next.
func (rd *Reader) readLarge() ([]byte, error) {
	k, err := io.ReadFull(rd.src, rd.large[rd.largeN:])
	rd.largeN += k
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, rd.fail(err)
	}
	out := rd.large
	rd.large, rd.largeN, rd.largeH = nil, 0, false
	return out, nil
}

// fill reads at least one byte into the buffer, or returns an error.
func (rd *Reader) fill() error {
	if rd.buf == nil && rd.lazy != nil {
		buf, n, err := rd.lazy.ReadLazy(rd.get)
		if buf != nil {
			if n == 0 {
				pool.Put(buf)
			} else {
				rd.buf, rd.r, rd.w = buf, 0, n
			}
		}
		if n > 0 {
			return nil
		}
		return rd.eofOr(err)
	}
	if rd.buf == nil {
		rd.buf = rd.getBuf()
	} else if rd.r > 0 {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	for range 100 {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		if n > 0 {
			return nil // a later error is seen on the next Read
		}
		if err != nil {
			return rd.eofOr(err)
		}
	}
	return io.ErrNoProgress
}

// eofOr maps a read error: EOF inside a frame is io.ErrUnexpectedEOF.
func (rd *Reader) eofOr(err error) error {
	if err == nil {
		return io.ErrNoProgress
	}
	if errors.Is(err, io.EOF) && rd.w-rd.r > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fail makes err sticky and releases the read buffer.
func (rd *Reader) fail(err error) error {
	rd.releaseView()
	rd.err = err
	if rd.large != nil {
		pool.Put(rd.large)
		rd.large, rd.largeN, rd.largeH = nil, 0, false
	}
	if rd.buf != nil {
		pool.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
	return err
}

// Close releases the read buffer. Next returns err afterwards.
func (rd *Reader) Close(err error) { rd.fail(err) }
