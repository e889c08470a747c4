//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
)

// hostInfo describes where the numbers were taken.
type hostInfo struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	NoFileSoft uint64 `json:"nofile_soft"`
	NoFileHard uint64 `json:"nofile_hard"`
	Compiled   string `json:"compiled_servers"`
}

// plan is the ordered list of server kinds to run for each engine.
type plan struct {
	engines []string            // engines with at least one kind to run
	kinds   map[string][]string // engine → kinds compiled in and asked for
	missing []string            // engine/kind asked for but not compiled in
}

func makePlan(cfg *config) plan {
	p := plan{kinds: map[string][]string{}}
	for _, e := range cfg.Engines {
		for _, k := range cfg.Kinds {
			if registered(e, k) {
				p.kinds[e] = append(p.kinds[e], k)
			} else {
				p.missing = append(p.missing, e+"/"+k)
			}
		}
		if len(p.kinds[e]) > 0 {
			p.engines = append(p.engines, e)
		}
	}
	return p
}

// runs counts server processes the grid will start.
func (p plan) runs() int {
	n := 0
	for _, e := range p.engines {
		n += len(p.kinds[e])
	}
	return n
}

// controls counts the engines that run the control kind (not run again
// for idle memory or in large mode: it is the baseline).
func (p plan) controls() int {
	n := 0
	for _, e := range p.engines {
		if slices.Contains(p.kinds[e], kindControl) {
			n++
		}
	}
	return n
}

// newBar returns the stderr progress bar (or a silent one).
func newBar(total int, visible bool) *progressbar.ProgressBar {
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionSetWidth(28),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
}

// gridMain runs the default comparison: every scenario × engine × kind,
// repeated, framelink and baseline alternating, then the idle test.
//
// r[impl tools.bench]
func gridMain(cfg *config, host hostInfo) int {
	pl := makePlan(cfg)
	if len(pl.engines) == 0 {
		fmt.Fprintln(os.Stderr, "bench: nothing to run: none of", cfg.Engines, "×", cfg.Kinds, "is compiled in; have", registeredList())
		return 2
	}
	perRun := cfg.Run.Warmup + cfg.Run.Duration + 250*time.Millisecond
	nRuns := len(cfg.Scenarios) * cfg.Repeats * pl.runs()
	nIdle := 0
	if cfg.Idle > 0 {
		nIdle = pl.runs() - pl.controls()
	}
	est := time.Duration(nRuns)*perRun + time.Duration(nIdle)*1500*time.Millisecond
	fmt.Printf("framelink bench: %d scenarios × %d server kinds × %d repeats = %d runs of %v (+%v warm-up), idle test %d conns; about %v\n",
		len(cfg.Scenarios), pl.runs(), cfg.Repeats, nRuns, cfg.Run.Duration, cfg.Run.Warmup, cfg.Idle, est.Round(time.Second))
	fmt.Printf("host: %d CPUs, GOMAXPROCS %d, %s %s, RLIMIT_NOFILE %d/%d. The load generator and the server share these CPUs:\n"+
		"  figures compare engines on this machine; they are not the capacity of a dedicated server.\n",
		host.CPUs, host.GOMAXPROCS, host.GoVersion, host.OS, host.NoFileSoft, host.NoFileHard)
	for _, m := range pl.missing {
		fmt.Printf("note: %s is not compiled in; see bench/README.md \"Plugging in a framelink engine\"\n", m)
	}

	bar := newBar(nRuns+nIdle, cfg.Progress)
	logf := func(format string, a ...any) {
		bar.Clear()
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
	cells := map[string]*cell{}
	key := func(sc scenario, e, k string) string { return sc.Name() + "|" + e + "|" + k }
	var order []*cell
	for _, sc := range cfg.Scenarios {
		for _, e := range pl.engines {
			for _, k := range pl.kinds[e] {
				c := &cell{Scenario: sc, Engine: e, Kind: k}
				cells[key(sc, e, k)] = c
				order = append(order, c)
			}
		}
	}
	start := time.Now()
	for _, sc := range cfg.Scenarios {
		for r := range cfg.Repeats {
			for _, e := range pl.engines {
				ks := slices.Clone(pl.kinds[e])
				if r%2 == 1 { // A B, then B A: linear drift hits both alike
					slices.Reverse(ks)
				}
				for _, k := range ks {
					bar.Describe(fmt.Sprintf("%-13s %s/%s #%d", sc.Name(), e, k, r+1))
					s := runOne(e, k, sc, cfg.Run, r)
					if s.ErrorCount > 0 {
						logf("ERROR %s %s/%s run %d: %d error(s): %v", sc.Name(), e, k, r+1, s.ErrorCount, s.Errors)
					}
					c := cells[key(sc, e, k)]
					c.Samples = append(c.Samples, s)
					bar.Add(1)
				}
			}
		}
	}
	var idle []idleResult
	if cfg.Idle > 0 {
		for _, e := range pl.engines {
			for _, k := range pl.kinds[e] {
				if k == kindControl { // the baseline's figure already
					continue
				}
				bar.Describe(fmt.Sprintf("idle %d conns %s/%s", cfg.Idle, e, k))
				ir := runIdle(e, k, cfg.Idle)
				if ir.ErrorCount > 0 {
					logf("ERROR idle %s/%s: %v", e, k, ir.Errors)
				}
				idle = append(idle, ir)
				bar.Add(1)
			}
		}
	}
	bar.Finish()
	for _, c := range order {
		c.summarize()
	}
	rep := &report{
		Started: start, Elapsed: time.Since(start).Seconds(), Host: host,
		Params: reportParams{Duration: cfg.Run.Duration.String(), Warmup: cfg.Run.Warmup.String(),
			Repeats: cfg.Repeats, IdleConns: cfg.Idle, Engines: pl.engines, Missing: pl.missing},
		Scenarios: cfg.Scenarios, Cells: order, Idle: idle,
	}
	rep.analyse()
	rep.printText(os.Stdout)
	if err := rep.writeFiles(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if n := rep.errorCount(); n > 0 {
		fmt.Printf("\nFAILED: %d error(s) (wrong, missing or unverified echoes, or server failures); see above and %s\n", n, cfg.JSONPath)
		return 1
	}
	fmt.Printf("\nno errors: every echoed frame was verified (%.0fs)\n", rep.Elapsed)
	return 0
}

// largeMain runs large mode for every engine/kind asked for.
func largeMain(cfg *config, host hostInfo) int {
	pl := makePlan(cfg)
	fmt.Printf("framelink bench -large: RLIMIT_NOFILE of the load generator raised to %d (hard %d); the server process raises its own\n",
		host.NoFileSoft, host.NoFileHard)
	for _, m := range pl.missing {
		fmt.Printf("note: %s is not compiled in; see bench/README.md\n", m)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	start := time.Now()
	var res []largeResult
	for _, e := range pl.engines {
		for _, k := range pl.kinds[e] {
			if k == kindControl {
				continue
			}
			r := runLarge(e, k, largeParams{Conns: cfg.LargeConns, Duration: cfg.LargeDur, Size: 64}, host.NoFileSoft, logf)
			res = append(res, r)
		}
	}
	rep := &report{Started: start, Elapsed: time.Since(start).Seconds(), Host: host, Large: res,
		Params: reportParams{Engines: pl.engines, Missing: pl.missing, Duration: cfg.LargeDur.String()}}
	rep.printLarge(os.Stdout)
	if err := rep.writeJSON(cfg.JSONPath); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Println("wrote", cfg.JSONPath)
	if n := rep.errorCount(); n > 0 {
		fmt.Printf("FAILED: %d error(s)\n", n)
		return 1
	}
	return 0
}

var _ io.Writer = (*tailBuffer)(nil)
