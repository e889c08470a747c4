//go:build unix

// Command bench compares framelink's engines on loopback: each engine's
// framelink echo server beside the same engine written by hand with no
// framework (the baseline_*.go files).
//
//	go run ./bench            # default grid, about two minutes on 2 cores
//	go run ./bench -large     # as many connections as the file limit allows
//
// The server under test runs in its own process (this binary re-executed
// with a hidden -serve argument) so its CPU time and memory are measured
// apart from the load generator. See README.md for how to read the output.
//
// r[impl tools.bench]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == serveArg {
		os.Exit(serverMain(os.Args[2]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

// config is the parsed command line.
type config struct {
	Engines    []string
	Kinds      []string
	Scenarios  []scenario
	Run        runParams
	Repeats    int
	Idle       int
	OutDir     string
	JSONPath   string
	CSVPath    string
	ChartPath  string
	Progress   bool
	Large      bool
	LargeConns int
	LargeDur   time.Duration
}

const defaultScenarios = "64x64x16,64x4096x16,1x64x1"

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\n"+
			"Compares framelink echo against the same engine hand-written, per engine.\n"+
			"Scenarios are CONNSxSIZExINFLIGHT; -conns/-sizes/-inflight build a full grid instead.\n\n")
		fs.PrintDefaults()
	}
	var (
		engines   = fs.String("engines", strings.Join(engineOrder, ","), "engines to compare")
		kinds     = fs.String("kinds", kindFramelink+","+kindBaseline, "server kinds per engine: framelink, baseline, control (the baseline again: the noise floor of the ratios)")
		scens     = fs.String("scenarios", defaultScenarios, "scenarios CONNSxSIZExINFLIGHT, comma-separated")
		conns     = fs.String("conns", "", "grid: connections, e.g. 1,64 (overrides -scenarios)")
		sizes     = fs.String("sizes", "", "grid: payload bytes per frame, e.g. 64,4096 (overrides -scenarios)")
		inflight  = fs.String("inflight", "", "grid: frames in flight per connection, e.g. 1,16 (overrides -scenarios)")
		dur       = fs.Duration("duration", 800*time.Millisecond, "measured time per run")
		warm      = fs.Duration("warmup", 200*time.Millisecond, "unmeasured load before each run's window")
		repeats   = fs.Int("repeats", 5, "runs per cell; framelink and baseline alternate")
		idle      = fs.Int("idle", 2000, "idle connections held for the memory-per-connection figure (0: skip)")
		out       = fs.String("out", "bench-results", "directory for default output files (made git-ignored)")
		jsonPath  = fs.String("json", "", "JSON results file (default OUT/results.json, or OUT/large.json with -large)")
		csvPath   = fs.String("csv", "", "CSV results file (default OUT/results.csv)")
		chartPath = fs.String("chart", "", "PNG chart file (default OUT/chart.png)")
		noBar     = fs.Bool("no-progress", false, "no progress bar on stderr")
		large     = fs.Bool("large", false, "large mode: as many connections as the file limit allows, per engine")
		largeN    = fs.Int("large-conns", 0, "large mode: connections to open (0: file limit minus a reserve)")
		largeDur  = fs.Duration("large-duration", 3*time.Second, "large mode: measured load time")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := &config{
		Engines: splitList(*engines), Kinds: splitList(*kinds),
		Run:     runParams{Warmup: *warm, Duration: *dur, Drain: 5 * time.Second},
		Repeats: *repeats, Idle: *idle, OutDir: *out, Progress: !*noBar,
		Large: *large, LargeConns: *largeN, LargeDur: *largeDur,
	}
	for _, e := range c.Engines {
		if !registered(e, kindBaseline) && !registered(e, kindFramelink) {
			return nil, fmt.Errorf("unknown engine %q (compiled in: %s)", e, registeredList())
		}
	}
	for _, k := range c.Kinds {
		if k != kindFramelink && k != kindBaseline && k != kindControl {
			return nil, fmt.Errorf("unknown kind %q: want framelink, baseline or control", k)
		}
	}
	if c.Repeats < 1 || c.Run.Duration <= 0 {
		return nil, fmt.Errorf("-repeats must be ≥ 1 and -duration > 0")
	}
	var err error
	if *conns != "" || *sizes != "" || *inflight != "" {
		c.Scenarios, err = gridScenarios(or(*conns, "64"), or(*sizes, "64"), or(*inflight, "16"))
	} else {
		c.Scenarios, err = parseScenarios(*scens)
	}
	if err != nil {
		return nil, err
	}
	def := func(p *string, name string) string {
		if *p != "" {
			return *p
		}
		return filepath.Join(c.OutDir, name)
	}
	c.JSONPath = def(jsonPath, map[bool]string{false: "results.json", true: "large.json"}[c.Large])
	c.CSVPath = def(csvPath, "results.csv")
	c.ChartPath = def(chartPath, "chart.png")
	return c, nil
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s, what string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := parseSize(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %s %q", what, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

// parseSize accepts plain numbers and K/KiB/M/MiB suffixes (binary).
func parseSize(s string) (int, error) {
	mult := 1
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			u, mult = strings.TrimSuffix(u, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(u)
	return n * mult, err
}

func gridScenarios(conns, sizes, inflight string) ([]scenario, error) {
	cs, err := parseInts(conns, "connection count")
	if err != nil {
		return nil, err
	}
	ss, err := parseInts(sizes, "frame size")
	if err != nil {
		return nil, err
	}
	fs, err := parseInts(inflight, "in-flight count")
	if err != nil {
		return nil, err
	}
	var out []scenario
	for _, c := range cs {
		for _, s := range ss {
			for _, f := range fs {
				out = append(out, scenario{Conns: c, Size: s, Inflight: f})
			}
		}
	}
	return out, nil
}

func parseScenarios(s string) ([]scenario, error) {
	var out []scenario
	for _, f := range splitList(s) {
		p := strings.Split(strings.ToLower(f), "x")
		if len(p) != 3 {
			return nil, fmt.Errorf("bad scenario %q: want CONNSxSIZExINFLIGHT, e.g. 64x4096x16", f)
		}
		sc, err := gridScenarios(p[0], p[1], p[2])
		if err != nil {
			return nil, fmt.Errorf("bad scenario %q: %w", f, err)
		}
		out = append(out, sc...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario given")
	}
	return out, nil
}

func benchMain(args []string) int {
	cfg, err := parseFlags(args)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	soft, hard, err := raiseNoFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	host := hostInfo{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, NoFileSoft: soft, NoFileHard: hard,
		Compiled: registeredList(),
	}
	if cfg.Large {
		return largeMain(cfg, host)
	}
	return gridMain(cfg, host)
}
