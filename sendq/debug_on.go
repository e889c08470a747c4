//go:build framelinkdebug

package sendq

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// DroppedSlot is called, in the debug build (-tags framelinkdebug), with
// the allocation stack of every Slot that became garbage without Commit or
// Discard (r[link.tx.discard]). The default prints it to standard error;
// tests may replace it before any slot is allocated. It runs on the
// runtime's cleanup goroutine.
var DroppedSlot = func(allocStack string) {
	fmt.Fprintf(os.Stderr, "framelink: slot dropped without Commit or Discard; allocated at:%s\n", allocStack)
}

// slotTrack holds the cleanup that fires if the op behind a live Slot is
// collected: nobody can Commit or Discard it any more.
type slotTrack struct {
	c  runtime.Cleanup
	on bool
}

// r[impl pool.debug]
func (t *slotTrack) start(o *op) {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		fmt.Fprintf(&b, "\n\t%s (%s:%d)", f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
	t.c = runtime.AddCleanup(o, func(stack string) { DroppedSlot(stack) }, b.String())
	t.on = true
}

func (t *slotTrack) stop() {
	if t.on {
		t.c.Stop()
		t.on = false
	}
}
