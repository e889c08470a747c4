//go:build unix

package main

// runErrors are the failures of one run, kept in its result and never
// dropped: how many, and the messages. sample, idleResult and largeResult
// embed it, so their JSON has "error_count" and "errors" last. The
// goroutine running the measurement owns it.
type runErrors struct {
	ErrorCount int      `json:"error_count"`
	Errors     []string `json:"errors,omitempty"`
}

// add records one failure.
func (e *runErrors) add(err error) {
	e.ErrorCount++
	e.Errors = append(e.Errors, err.Error())
}

// merge records n failures of which msgs are the messages kept (the load
// generator keeps the first few).
func (e *runErrors) merge(n int, msgs []string) {
	e.ErrorCount += n
	e.Errors = append(e.Errors, msgs...)
}

// startBaseServer starts engine/kind's server process and takes its stats
// after a GC, before any connection: the base that the idle and large
// modes measure memory against. A failure goes to errs (with the server
// stopped) and ok is false; otherwise the caller defers p.stopInto(errs).
func startBaseServer(engine, kind string, errs *runErrors) (p *serverProc, s0 procStats, ok bool) {
	p, err := startServerProc(engine, kind)
	if err != nil {
		errs.add(err)
		return nil, procStats{}, false
	}
	if s0, err = p.stats(true); err != nil {
		errs.add(err)
		p.stopInto(errs)
		return nil, procStats{}, false
	}
	return p, s0, true
}
