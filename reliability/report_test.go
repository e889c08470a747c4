package reliability

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// The per-engine table printed at the end of a verbose run (go test -v):
// which faults and inputs were tried, frames sent and received, peak
// memory under a non-reading peer, leaks found.

type engineReport struct {
	tried                  map[string]bool
	framesSent, framesRecv uint64
	bytesSent, bytesRecv   uint64
	peakQueued             int64  // max Stats().QueuedBytes under a non-reading peer
	peakQueuedBound        int64  // the bound it was checked against
	peakHeap               uint64 // heap growth at that peak
	stallNote              string // what the engine did about it
	leakChecks, leaks      int
}

var (
	reportMu sync.Mutex
	reports  = map[string]*engineReport{}
)

func rep(name string) *engineReport {
	r := reports[name]
	if r == nil {
		r = &engineReport{tried: map[string]bool{}}
		reports[name] = r
	}
	return r
}

// noteTried records that fault or input what ran against engine name.
func noteTried(name, what string) {
	reportMu.Lock()
	rep(name).tried[what] = true
	reportMu.Unlock()
}

// noteFrames adds frames and bytes sent and received by engine name.
func noteFrames(name string, sent, recv, bsent, brecv uint64) {
	reportMu.Lock()
	r := rep(name)
	r.framesSent += sent
	r.framesRecv += recv
	r.bytesSent += bsent
	r.bytesRecv += brecv
	reportMu.Unlock()
}

// notePeak records the peak queued bytes and heap growth under a
// non-reading peer.
func notePeak(name string, queued, bound int64, heap uint64, note string) {
	reportMu.Lock()
	r := rep(name)
	if queued > r.peakQueued {
		r.peakQueued, r.peakQueuedBound = queued, bound
	}
	r.peakHeap = max(r.peakHeap, heap)
	if note != "" && !strings.Contains(r.stallNote, note) {
		if r.stallNote != "" {
			r.stallNote += "; "
		}
		r.stallNote += note
	}
	reportMu.Unlock()
}

func noteLeaks(name string, fdsBefore, fdsAfter int, goroutines error) {
	reportMu.Lock()
	r := rep(name)
	r.leakChecks++
	if (fdsBefore >= 0 && fdsAfter > fdsBefore) || goroutines != nil {
		r.leaks++
	}
	reportMu.Unlock()
}

// printReport writes the table.
func printReport(w io.Writer) {
	reportMu.Lock()
	defer reportMu.Unlock()
	if len(reports) == 0 {
		return
	}
	var names []string
	for n := range reports {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nreliability report (per engine):")
	fmt.Fprintln(w, "| engine | faults and inputs tried | frames sent | frames received | peak queued under a non-reading peer (bound) | heap growth at that peak | leak checks | leaks |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, n := range names {
		r := reports[n]
		var tried []string
		for k := range r.tried {
			tried = append(tried, k)
		}
		sort.Strings(tried)
		peak := "-"
		if r.peakQueuedBound > 0 {
			peak = fmt.Sprintf("%d B (≤ %d)", r.peakQueued, r.peakQueuedBound)
		}
		if r.stallNote != "" {
			peak += " " + r.stallNote
		}
		heap := "-"
		if r.peakHeap > 0 {
			heap = fmt.Sprintf("%.1f MiB", float64(r.peakHeap)/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %d (%.1f MiB) | %d (%.1f MiB) | %s | %s | %d | %d |\n",
			n, strings.Join(tried, ", "), r.framesSent, float64(r.bytesSent)/(1<<20),
			r.framesRecv, float64(r.bytesRecv)/(1<<20), peak, heap, r.leakChecks, r.leaks)
	}
}
