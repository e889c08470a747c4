package reliability

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hangLimit bounds every wait on a condition. It is a hang detector for a
// slow shared machine, never a performance assertion.
const hangLimit = 30 * time.Second

// waitFor polls cond until it holds, yielding between polls with short,
// growing pauses; it fails the test if hangLimit passes first. It is how
// the tests wait for things to close: never a fixed sleep.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("%s: still not true after %v", what, hangLimit)
	}
}

// poll is waitFor without the test: it reports whether cond came true.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(hangLimit)
	pause := 50 * time.Microsecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// countFDs returns the number of open file descriptors of the process, or
// -1 where /proc/self/fd is not available.
func countFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory itself
}

// warmed records the engines whose lazily created global resources exist.
var warmed sync.Map

// warm runs e.warm once per process.
func warm(t *testing.T, e *engine) {
	if e == nil || e.warm == nil {
		return
	}
	if _, done := warmed.LoadOrStore(e.name, true); !done {
		e.warm(t)
	}
}

// checkLeaks records the open fds and goroutines now and registers a
// cleanup (run after every cleanup registered later, so after the links
// and servers are closed) that waits for the fd count to come back to
// what it was and then looks for leaked goroutines. es are the engines
// involved: their lazily started pollers are warmed first and ignored.
func checkLeaks(t *testing.T, es ...*engine) {
	t.Helper()
	for _, e := range es {
		warm(t, e)
	}
	runtime.GC() // finalizers of earlier tests' files close their fds now
	before := countFDs()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	for _, e := range es {
		opts = append(opts, e.ignore...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // a failed test may leave things blocked on purpose
		}
		var after int
		if before >= 0 {
			polls := 0
			ok := poll(func() bool {
				if polls++; polls%64 == 0 {
					runtime.GC() // descriptors closed by finalizers
				}
				after = countFDs()
				return after <= before
			})
			if !ok {
				t.Errorf("file descriptors leaked: %d open before, %d after: %v", before, after, fdTargets())
			}
		}
		err := goleak.Find(opts...)
		if err != nil {
			t.Errorf("goroutines leaked: %v", err)
		}
		for _, e := range es {
			noteLeaks(e.name, before, after, err)
		}
	})
}

// fdTargets lists what the open descriptors point at, for a leak report.
func fdTargets() []string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []string
	for _, n := range names {
		if l, err := os.Readlink("/proc/self/fd/" + n); err == nil {
			out = append(out, n+"->"+l)
		}
	}
	return out
}
