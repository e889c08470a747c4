//go:build !windows

package netpoll

import (
	"math"
	"unsafe"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// Batches for a framelink.BatchHandler (r[serve.handler]).
//
// netpoll's input buffer is a linked list of nodes. A Peek that lies in one
// node is a view of it; one across nodes is copied into a buffer of the
// LinkBuffer's own (its peek cache, reused by the next such Peek and freed
// by Release). The Reader API says neither where a node ends nor whether a
// Peek was copied, so takeBatch finds the run of frames that lies in one
// node as it walks them: for each frame, one Peek of the frame and the
// header after it (OnFrame's delivery made two calls per frame too, Peek
// and Next), a check that the view starts where the previous frame ended,
// and a Skip of the frame. The header after the frame is what proves that
// the next view, if it starts there, is in the same node: an address one
// past the node's end could be the start of another allocation. So a frame
// that crosses into the next node, or that ends less than 4 bytes before
// the node's end, ends the run and comes alone, from netpoll's copy: at
// most one frame per node boundary is copied that OnFrame's delivery would
// not have copied (it copied a frame that crosses, with Next, and a header
// that crosses, with Peek). The copy goes to netpoll's one peek cache,
// reused, where Next kept a copy per frame until Release: nothing more is
// held. Skipped bytes stay in netpoll's node until Release, which OnRequest
// calls only between batches, so a batch is valid until OnBatch returns; a
// copied frame is delivered before the next Peek.

// takeBatch takes the next batch from r (r[serve.handler]): the frames at
// the read position that lie in one node of netpoll's input buffer, whole,
// at most room bytes in all (output.room, the output's room under the
// high-water mark) but at least the first. The first frame, of total
// bytes with its header, is buffered whole; avail (at least total) bytes
// are buffered. Its frames are Skipped: the batch is valid until the next
// Peek, Skip or Release of r. OnRequest or the close callback only.
func (c *sconn) takeBatch(r netpoll.Reader, total, avail int, room int64) (framelink.Batch, error) {
	// One byte never crosses a node: anchor is a view of the node holding
	// the read position.
	anchor, err := r.Peek(1)
	if err != nil {
		return framelink.Batch{}, err
	}
	base := unsafe.Pointer(unsafe.SliceData(anchor))
	limit := int(min(room, math.MaxInt32))
	n := 0 // bytes taken (Skipped), all of them at base
	for {
		// The frame at the read position (base+n) is total bytes; with
		// the next header, if it is buffered, its view also shows where
		// the next frame ends and that it starts in the same node.
		k := total
		more := avail-n >= total+codec.HeaderSize
		if more {
			k += codec.HeaderSize
		}
		p, err := r.Peek(k)
		if err != nil {
			return framelink.Batch{}, err
		}
		// base+n lies inside the node (the previous view held the bytes
		// there; for the first frame it is anchor), so a Peek that starts
		// there is a view of that node, and one that does not is netpoll's
		// copy (a frame crossing into the next node).
		if unsafe.Pointer(unsafe.SliceData(p)) != unsafe.Add(base, n) {
			if n > 0 {
				break // delivered next, in a batch of its own
			}
			if err := r.Skip(total); err != nil {
				return framelink.Batch{}, err
			}
			return framelink.CutBatch(p[:total], c.max, 0), nil
		}
		if err := r.Skip(total); err != nil {
			return framelink.Batch{}, err
		}
		n += total
		if !more {
			break
		}
		_, advance, need, err := codec.Split(p[total:], c.max)
		next := advance + need
		if err != nil || avail-n < next || n+next > limit {
			// Oversize (OnRequest's header check closes the connection),
			// incomplete, or beyond the room: the next batch's business.
			break
		}
		total = next
	}
	// Every view above lay in the node at base, one after the other: the
	// batch is one run of that node's memory.
	return framelink.CutBatch(unsafe.Slice((*byte)(base), n), c.max, n), nil
}

// room is the output's room under the high-water mark, from which a batch
// is cut: negative when it is above (a batch then holds one frame).
func (o *output) room(highWater int) int64 {
	o.mu.Lock()
	r := int64(highWater) - o.budget.Queued() - int64(o.unacct)
	o.mu.Unlock()
	return r
}
