//go:build framelinkdebug

package pool

import (
	"strings"
	"testing"
)

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		s, _ := r.(string)
		if !strings.Contains(s, want) {
			t.Fatalf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}

// r[verify pool.debug]
func TestDebugCatchesMisuse(t *testing.T) {
	b := Get(100)
	Put(b)
	if b[:1][0] != Poison {
		t.Fatalf("released buffer not poisoned: %#x", b[0])
	}
	mustPanic(t, "double release", func() { Put(b) })

	c := Get(5000)
	Put(c)
	c[10] = 1 // use after release
	mustPanic(t, "written after release", func() {
		for range 1000 { // the pool may hand out other buffers first
			d := Get(5000)
			defer Put(d)
		}
	})
}
