// Package pool is the size-class buffer pool shared by every framelink
// engine (r[pool.classes]).
//
// Get(n) returns a slice of length n whose capacity is the smallest class
// that holds n: powers of two from MinClass to MaxClass. Put takes back only
// slices whose capacity is exactly a class size; anything else (a slice
// from make, a buffer above MaxClass) is dropped for the garbage collector.
// Steady-state Get/Put pairs do not allocate: classes hold bare pointers to
// the backing arrays in sync.Pools, so no slice header is boxed.
//
// Build with -tags framelinkdebug to poison released buffers and to panic on
// double release and on writes after release (r[pool.debug]).
package pool

import (
	"math/bits"
	"sync"
	"unsafe"
)

const (
	minShift = 6  // 64 B
	maxShift = 25 // 32 MiB: a 16 MiB frame plus its header fits
	// MinClass is the smallest buffer size handed out.
	MinClass = 1 << minShift
	// MaxClass is the largest buffer size retained; larger Gets allocate
	// and their Puts are dropped.
	MaxClass = 1 << maxShift
)

var classes [maxShift - minShift + 1]sync.Pool

// classOf returns the index of the smallest class holding n, or -1 if n is
// above MaxClass.
func classOf(n int) int {
	if n <= MinClass {
		return 0
	}
	if n > MaxClass {
		return -1
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of length n (capacity: n's size class). Its contents
// are unspecified. The caller owns it until Put. Safe for concurrent use.
// r[impl pool.classes]
func Get(n int) []byte {
	c := classOf(n)
	if c < 0 {
		return make([]byte, n)
	}
	size := MinClass << c
	if p := classes[c].Get(); p != nil {
		b := unsafe.Slice((*byte)(p.(unsafe.Pointer)), size)
		debugGet(b)
		return b[:n]
	}
	b := make([]byte, size)
	debugNew(b)
	return b[:n]
}

// Put gives b back to the pool. After Put the caller must not touch b (nor
// any slice sharing its array). Buffers that did not come from Get are
// ignored. Safe for concurrent use.
func Put(b []byte) {
	size := cap(b)
	if size < MinClass || size > MaxClass || size&(size-1) != 0 {
		return
	}
	b = b[:size]
	debugPut(b)
	classes[bits.Len(uint(size-1))-minShift].Put(unsafe.Pointer(unsafe.SliceData(b)))
}

// Class returns the capacity Get(n) would give: n rounded up to its size
// class, or n itself above MaxClass.
func Class(n int) int {
	c := classOf(n)
	if c < 0 {
		return n
	}
	return MinClass << c
}
