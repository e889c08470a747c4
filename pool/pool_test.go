package pool

import (
	"testing"
)

// r[verify pool.classes]
func TestClasses(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{0, MinClass}, {1, MinClass}, {64, 64}, {65, 128}, {4096, 4096}, {4100, 8192},
		{MaxClass, MaxClass},
	} {
		b := Get(tc.n)
		if len(b) != tc.n || cap(b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tc.n, len(b), cap(b), tc.n, tc.cap)
		}
		if Class(tc.n) != tc.cap {
			t.Errorf("Class(%d) = %d, want %d", tc.n, Class(tc.n), tc.cap)
		}
		Put(b)
	}
	big := Get(MaxClass + 1)
	if len(big) != MaxClass+1 {
		t.Fatalf("above the largest class: len %d", len(big))
	}
	Put(big)                   // not retained: must not panic or be handed out
	Put(make([]byte, 100))     // not a class size: ignored
	Put(make([]byte, 0, 3000)) // likewise
	if b := Get(MaxClass); cap(b) != MaxClass {
		t.Fatalf("a foreign buffer came back: cap %d", cap(b))
	}
}

func TestGetPutZeroAlloc(t *testing.T) {
	if Debug {
		t.Skip("the debug build records every buffer")
	}
	Put(Get(1000))
	allocs := testing.AllocsPerRun(1000, func() { Put(Get(1000)) })
	if allocs != 0 {
		t.Fatalf("Get/Put allocates %.1f times per pair", allocs)
	}
}

func BenchmarkGetPut(b *testing.B) {
	for _, n := range []int{64, 4096, 65536} {
		b.Run("", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					Put(Get(n))
				}
			})
		})
	}
}
