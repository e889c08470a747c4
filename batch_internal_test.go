package framelink

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"unsafe"
)

// A Batch stays four machine words: at five, passing one through OnBatch
// and EchoBatch cost gnet's engine 40 ns more per read event.
func TestBatchSize(t *testing.T) {
	if got, want := unsafe.Sizeof(Batch{}), 4*unsafe.Sizeof(uintptr(0)); got > want {
		t.Fatalf("Batch is %d bytes, want at most %d", got, want)
	}
}

// The frame count's bound, shown with a bound of 3 instead of 2^32-1:
// CutBatch ends the batch there, NewBatch refuses more.
func TestBatchFrameBound(t *testing.T) {
	var w []byte
	for range 4 {
		w = binary.LittleEndian.AppendUint32(w, 2)
		w = append(w, "xy"...)
	}
	if b := cutBatch(w, 16, len(w), 3); b.Len() != 3 || len(b.Bytes()) != 18 {
		t.Fatalf("cutBatch with a bound of 3: %d frames, %d bytes", b.Len(), len(b.Bytes()))
	}
	if _, err := newBatch(w, 16, 3); !errors.Is(err, errBatchFrames) {
		t.Fatalf("newBatch of 4 frames with a bound of 3: %v", err)
	}
	if b, err := newBatch(w[:18], 16, 3); err != nil || b.Len() != 3 {
		t.Fatalf("newBatch of exactly 3 frames: %d, %v", b.Len(), err)
	}
	if _, err := newBatch(w[:17], 16, 3); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("newBatch of 2 frames and a cut one: %v", err)
	}
}
