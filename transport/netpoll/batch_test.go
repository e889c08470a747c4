//go:build !windows

package netpoll

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// nodeBuffer returns a netpoll LinkBuffer holding stream in nodes that
// start at the offsets cuts (ascending, inside stream), and each node's
// memory (a view of all its bytes).
func nodeBuffer(t *testing.T, stream []byte, cuts []int) (*netpoll.LinkBuffer, [][]byte) {
	t.Helper()
	lb := netpoll.NewLinkBuffer()
	var nodes [][]byte
	start := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(stream)
		if i < len(cuts) {
			end = cuts[i]
		}
		part := netpoll.NewLinkBuffer(end - start)
		dst, err := part.Malloc(end - start)
		if err != nil {
			t.Fatal(err)
		}
		copy(dst, stream[start:end])
		if err := part.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := lb.Append(part); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, dst)
		start = end
	}
	if err := lb.Flush(); err != nil {
		t.Fatal(err)
	}
	if lb.Len() != len(stream) {
		t.Fatalf("LinkBuffer holds %d bytes, want %d", lb.Len(), len(stream))
	}
	return lb, nodes
}

// inside reports whether p lies in mem.
func inside(mem, p []byte) bool {
	off := uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	return off <= uintptr(len(mem)-len(p))
}

// wantBatch is the model of takeBatch: the number of frames of the batch
// at off (the frames start at starts, the stream is size bytes, nodes
// start at cuts). The first frame is always taken; another is taken while
// the one before it, with the next header, lies in one node (a frame
// whose view does not start where the previous one ended ends the run),
// it is whole, and the batch stays within limit.
func wantBatch(starts []int, i0, size int, cuts []int, limit int) (frames int, copied bool) {
	crosses := func(from, to int) bool {
		for _, c := range cuts {
			if from < c && c < to {
				return true
			}
		}
		return false
	}
	view := func(i int) int { // the bytes takeBatch Peeks for frame i
		end := frameEnd(starts, i, size)
		if size-end >= 4 {
			end += 4
		}
		return end
	}
	if crosses(starts[i0], view(i0)) {
		return 1, true
	}
	n := 1
	for i := i0 + 1; i < len(starts); i++ {
		if starts[i]-starts[i0]+(frameEnd(starts, i, size)-starts[i]) > limit {
			break
		}
		if crosses(starts[i], view(i)) {
			break
		}
		n++
	}
	return n, false
}

func frameEnd(starts []int, i, size int) int {
	if i+1 < len(starts) {
		return starts[i+1]
	}
	return size
}

// takeBatch over netpoll's linked buffer: every frame once, in order, in
// batches that are views of one node (a frame that crosses nodes alone,
// from netpoll's copy), as long as the model says, within the room but
// one frame, the rest left in the buffer.
// r[verify serve.handler]
func TestTakeBatchNodes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	c := &sconn{max: 1 << 20}
	var multi, copies int
	for iter := range 400 {
		var stream []byte
		var starts []int
		count := 1 + r.IntN(60)
		for i := range count {
			n := r.IntN(300)
			switch {
			case i%17 == 5:
				n = 5000 + r.IntN(20000)
			case r.IntN(10) == 0:
				n = 0
			}
			starts = append(starts, len(stream))
			stream = append(stream, frame(payload(n, byte(iter+i)))...)
		}
		// Node boundaries anywhere, at frame starts, inside headers.
		var cuts []int
		for off := 0; ; {
			off += 1 + r.IntN(3000)
			if r.IntN(4) == 0 {
				k := r.IntN(len(starts))
				if starts[k] > off {
					off = starts[k] + r.IntN(3)
				}
			}
			if off >= len(stream) {
				break
			}
			cuts = append(cuts, off)
		}
		room := []int64{-100, 0, 50, 700, 4000, 1 << 30}[r.IntN(6)]
		lb, nodes := nodeBuffer(t, stream, cuts)

		var got []byte
		for i := 0; i < len(starts); {
			hdr, err := lb.Peek(4)
			if err != nil {
				t.Fatal(err)
			}
			total := 4 + int(binary.LittleEndian.Uint32(hdr))
			b, err := c.takeBatch(lb, total, lb.Len(), room)
			if err != nil {
				t.Fatalf("iter %d: takeBatch: %v", iter, err)
			}
			wantN, copied := wantBatch(starts, i, len(stream), cuts, int(min(room, 1<<30)))
			if b.Len() != wantN {
				t.Fatalf("iter %d, frame %d: batch of %d frames, want %d (cuts %v, room %d)", iter, i, b.Len(), wantN, cuts, room)
			}
			w := b.Bytes()
			end := frameEnd(starts, i+wantN-1, len(stream))
			if !bytes.Equal(w, stream[starts[i]:end]) {
				t.Fatalf("iter %d, frame %d: batch bytes differ from the stream", iter, i)
			}
			if b.Len() > 1 && int64(len(w)) > room {
				t.Fatalf("iter %d: batch of %d bytes, room %d", iter, len(w), room)
			}
			if !copied {
				inNode := false
				for _, m := range nodes {
					inNode = inNode || inside(m, w)
				}
				if !inNode {
					t.Fatalf("iter %d, frame %d: batch in one node was copied", iter, i)
				}
			}
			if lb.Len() != len(stream)-end {
				t.Fatalf("iter %d: %d bytes left in the buffer, want %d", iter, lb.Len(), len(stream)-end)
			}
			if b.Len() > 1 {
				multi++
			}
			if copied {
				copies++
			}
			got = append(got, w...)
			i += wantN
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("iter %d: batches differ from the stream", iter)
		}
		_ = lb.Release()
	}
	// The cases the model tells apart all came up.
	if multi < 100 || copies < 100 {
		t.Errorf("%d batches of several frames, %d copied frames: the test did not cover both", multi, copies)
	}
}
