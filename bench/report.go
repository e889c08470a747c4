//go:build unix

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything a run produced; it is also the JSON document.
type report struct {
	Started   time.Time     `json:"started"`
	Elapsed   float64       `json:"elapsed_s"`
	Host      hostInfo      `json:"host"`
	Params    reportParams  `json:"params"`
	Scenarios []scenario    `json:"scenarios,omitempty"`
	Cells     []*cell       `json:"cells,omitempty"`
	Verdicts  []string      `json:"verdicts,omitempty"`
	Overhead  []overhead    `json:"overhead,omitempty"`
	Idle      []idleResult  `json:"idle,omitempty"`
	Large     []largeResult `json:"large,omitempty"`
}

type reportParams struct {
	Duration  string   `json:"duration"`
	Warmup    string   `json:"warmup,omitempty"`
	Repeats   int      `json:"repeats,omitempty"`
	IdleConns int      `json:"idle_conns,omitempty"`
	Engines   []string `json:"engines"`
	Missing   []string `json:"not_compiled_in,omitempty"`
}

// overhead is framelink against the bare engine on one scenario, from the
// alternating pairs (r[perf.overhead]).
type overhead struct {
	Scenario string     `json:"scenario"`
	Engine   string     `json:"engine"`
	Kind     string     `json:"kind"` // framelink, or control (the bare engine against itself)
	Pairs    int        `json:"pairs"`
	FPSPair  float64    `json:"fps_ratio_pair_median"` // framelink/baseline frames/s, median of pair ratios
	FPS      comparison `json:"fps"`                   // ratio of medians, spreads apart?
	CPUPair  float64    `json:"cpu_ratio_pair_median"` // framelink/baseline server CPU per frame
	CPU      comparison `json:"cpu"`
	Meets    bool       `json:"meets_perf_overhead"` // both pair medians satisfy the requirement
	Result   string     `json:"result"`              // resultMeets, resultNoise or resultMisses
	Note     string     `json:"note"`
}

// The r[perf.overhead] result of a scenario and engine. A CPU/frame pair
// median over 1 whose cells' ranges overlap is not a demonstrated excess,
// and not parity either: it is reported as such, with the figure.
const (
	resultMeets   = "meets"
	resultNoise   = "within noise"
	resultMisses  = "MISSES"
	resultControl = "control: bare against itself"
)

func (r *report) cell(sc scenario, engine, kind string) *cell {
	for _, c := range r.Cells {
		if c.Scenario == sc && c.Engine == engine && c.Kind == kind {
			return c
		}
	}
	return nil
}

func (r *report) errorCount() int {
	n := 0
	for _, c := range r.Cells {
		n += c.Errors
	}
	for _, i := range r.Idle {
		n += i.ErrorCount
	}
	for _, l := range r.Large {
		n += l.ErrorCount
	}
	return n
}

// analyse fills Verdicts and Overhead from the cells.
func (r *report) analyse() {
	fps := metricByKey("frames_per_s")
	for _, sc := range r.Scenarios {
		// The engines a user chooses between are the framelink ones; with
		// none compiled in, rank the bare engines instead.
		kind := kindFramelink
		var ranked []*cell
		for _, k := range []string{kindFramelink, kindBaseline} {
			ranked = ranked[:0]
			for _, e := range r.Params.Engines {
				if c := r.cell(sc, e, k); c != nil && c.Summary[fps.Key].N > 0 {
					ranked = append(ranked, c)
				}
			}
			if len(ranked) > 0 {
				kind = k
				break
			}
		}
		if len(ranked) == 0 {
			r.Verdicts = append(r.Verdicts, sc.Name()+": no successful run")
			continue
		}
		slices.SortStableFunc(ranked, func(a, b *cell) int {
			return -cmpFloat(a.Summary[fps.Key].Median, b.Summary[fps.Key].Median)
		})
		w := ranked[0]
		var b strings.Builder
		label := map[string]string{kindFramelink: "framelink engines", kindBaseline: "bare engines (no framelink engine compiled in)"}[kind]
		var apart, close []string
		for _, o := range ranked[1:] {
			c := compare(w.Summary[fps.Key], o.Summary[fps.Key])
			if c.Separate {
				apart = append(apart, fmt.Sprintf("%.2f× %s", c.Ratio, o.Engine))
			} else {
				close = append(close, fmt.Sprintf("%s (%.2f×)", o.Engine, c.Ratio))
			}
		}
		switch {
		case len(ranked) == 1:
			fmt.Fprintf(&b, "%s: only %s ran among %s: %s frames/s", sc.Name(), w.Engine, label, fmtRate(w.Summary[fps.Key].Median))
		case len(close) == 0:
			fmt.Fprintf(&b, "%s: %s wins among %s at %s frames/s: %s", sc.Name(), w.Engine, label,
				fmtRate(w.Summary[fps.Key].Median), strings.Join(apart, ", "))
		default:
			fmt.Fprintf(&b, "%s: among %s, %s has the top median (%s frames/s) but is within noise of %s",
				sc.Name(), label, w.Engine, fmtRate(w.Summary[fps.Key].Median), strings.Join(close, ", "))
			if len(apart) > 0 {
				fmt.Fprintf(&b, "; clearly ahead: %s", strings.Join(apart, ", "))
			}
		}
		var parts []string
		for _, e := range r.Params.Engines {
			bl := r.cell(sc, e, kindBaseline)
			if bl == nil {
				continue
			}
			if fl := r.cell(sc, e, kindFramelink); fl != nil {
				o := pairOverhead(sc, e, kindFramelink, fl, bl)
				o.Result, o.Note = overheadResult(o)
				o.Meets = o.Result == resultMeets
				r.Overhead = append(r.Overhead, o)
				if o.Pairs > 0 {
					parts = append(parts, fmt.Sprintf("%s %.0f%% frames/s%s, %+.0f%% CPU/frame%s",
						e, 100*o.FPSPair, noiseTag(o.FPS), 100*(o.CPUPair-1), noiseTag(o.CPU)))
				}
			}
			if ctl := r.cell(sc, e, kindControl); ctl != nil {
				o := pairOverhead(sc, e, kindControl, ctl, bl)
				o.Result = resultControl
				r.Overhead = append(r.Overhead, o)
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, ". framelink vs bare (median of pairs): %s", strings.Join(parts, "; "))
		}
		r.Verdicts = append(r.Verdicts, b.String())
	}
}

// pairOverhead compares cell a (framelink, or the control) with the
// baseline cell bl of the same scenario and engine, pair by pair.
func pairOverhead(sc scenario, engine, kind string, a, bl *cell) overhead {
	fps := metricByKey("frames_per_s")
	cpu := metricByKey("cpu_s_per_mframe")
	o := overhead{Scenario: sc.Name(), Engine: engine, Kind: kind}
	fr := pairRatios(a.values(fps), bl.values(fps))
	cr := pairRatios(a.values(cpu), bl.values(cpu))
	o.Pairs = len(fr)
	o.FPSPair, o.CPUPair = median(fr), median(cr)
	o.FPS = compare(a.Summary[fps.Key], bl.Summary[fps.Key])
	o.CPU = compare(a.Summary[cpu.Key], bl.Summary[cpu.Key])
	return o
}

// overheadResult judges o against r[perf.overhead]: frames/s at least
// 95% of the bare engine's and server CPU per frame no more than its, as
// the medians of at least five pairs. A CPU median over 1 with the
// cells' ranges overlapping is "within noise", with the figure in the
// note; apart, it misses.
func overheadResult(o overhead) (result, note string) {
	if o.Pairs == 0 {
		return resultMisses, "no successful pair"
	}
	var miss, noise []string
	if o.FPSPair < 0.95 {
		miss = append(miss, fmt.Sprintf("frames/s %.1f%% < 95%%", 100*o.FPSPair))
	}
	if o.CPUPair > 1 {
		cpu := fmt.Sprintf("server CPU/frame +%.1f%%", 100*(o.CPUPair-1))
		if o.CPU.Separate {
			miss = append(miss, cpu+", ranges apart")
		} else {
			noise = append(noise, cpu+", ranges overlap")
		}
	}
	if o.Pairs < 5 {
		miss = append(miss, fmt.Sprintf("only %d pairs (need ≥ 5)", o.Pairs))
	}
	switch {
	case len(miss) > 0:
		return resultMisses, strings.Join(append(miss, noise...), "; ")
	case len(noise) > 0:
		return resultNoise, strings.Join(noise, "; ")
	}
	return resultMeets, ""
}

func rangeWord(c comparison) string {
	if c.Separate {
		return "apart"
	}
	return "overlap"
}

func noiseTag(c comparison) string {
	if c.Separate {
		return ""
	}
	return " (within noise)"
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b || (math.IsNaN(a) && !math.IsNaN(b)):
		return -1
	case a > b || (!math.IsNaN(a) && math.IsNaN(b)):
		return 1
	}
	return 0
}

// fmtRate renders 812345 as "812.3k".
func fmtRate(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func fmtBytes(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(v) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case math.Abs(v) >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// printText writes the table, the verdicts, the overhead check and the
// idle-memory table.
func (r *report) printText(w io.Writer) {
	fmt.Fprintf(w, "\nMedians of %d runs of %s each; [min–max] over the runs. Server CPU, RSS and allocations are the server process's own.\n",
		r.Params.Repeats, r.Params.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tengine\tkind\tframes/s [min–max]\tMB/s\tp50 µs\tp99 µs\tp999 µs\tsrv CPU s/Mfr\tsrv peak RSS MiB\tsrv allocs/frame\terrors\t")
	last := ""
	for _, c := range r.Cells {
		s := c.Summary
		name := c.Scenario.Name()
		if name == last {
			name = ""
		}
		last = c.Scenario.Name()
		f := s["frames_per_s"]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s [%s–%s]\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			name, c.Engine, c.Kind, fmtRate(f.Median), fmtRate(f.Min), fmtRate(f.Max),
			fmtNum(s["mb_per_s"].Median, 1), fmtNum(s["p50_us"].Median, 0), fmtNum(s["p99_us"].Median, 0),
			fmtNum(s["p999_us"].Median, 0), fmtNum(s["cpu_s_per_mframe"].Median, 2),
			fmtNum(s["peak_rss_mib"].Median, 1), fmtNum(s["allocs_per_frame"].Median, 3), c.Errors)
	}
	tw.Flush()
	var srv, cli []float64
	for _, c := range r.Cells {
		srv = append(srv, c.Summary["server_cpu_cores"].Median)
		cli = append(cli, c.Summary["loadgen_cpu_cores"].Median)
	}
	fmt.Fprintf(w, "CPU in use while measuring (medians over cells): server %.2f cores, load generator %.2f cores, of %d.\n"+
		"  The two share the machine: where their sum nears the core count, the machine is the limit and ratios understate differences.\n",
		median(srv), median(cli), r.Host.CPUs)
	fmt.Fprintln(w, "\nVerdicts (a ratio is claimed only when the [min–max] ranges do not overlap, else \"within noise\"):")
	for _, v := range r.Verdicts {
		fmt.Fprintln(w, "  "+v)
	}
	if len(r.Overhead) > 0 {
		fmt.Fprintln(w, "\nr[perf.overhead] framelink ≥ 95% of bare frames/s and no more server CPU/frame (median of alternating pairs):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  scenario\tengine\tpairs\tframes/s fl/bare\tranges\tCPU/frame fl/bare\tranges\tresult")
		for _, o := range r.Overhead {
			res := o.Result
			if o.Note != "" {
				res += ": " + o.Note
			}
			engine := o.Engine
			if o.Kind == kindControl {
				engine += " (control)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%.3f\t%s\t%.3f\t%s\t%s\n", o.Scenario, engine, o.Pairs, o.FPSPair, rangeWord(o.FPS), o.CPUPair, rangeWord(o.CPU), res)
		}
		tw.Flush()
	}
	if len(r.Idle) > 0 {
		fmt.Fprintf(w, "\nServer memory per idle connection (%d connections, each idle after one verified echo; after GC):\n", r.Params.IdleConns)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "engine\tkind\tRSS/conn\tGo heap+stacks/conn\terrors\t")
		for _, i := range r.Idle {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t\n", i.Engine, i.Kind, fmtBytes(i.RSSPerConn), fmtBytes(i.RuntimePerConn), i.ErrorCount)
		}
		tw.Flush()
	}
}

// printLarge writes the large-mode table and per-run limit messages.
func (r *report) printLarge(w io.Writer) {
	fmt.Fprintln(w, "\nLarge mode (r[perf.scale]): connections held at once, one verified echo on each, then all loaded with 1 frame in flight:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tkind\tconnected\techoed\tsrv fds\tdial s\tidle RSS/conn\tidle heap+stk/conn\tload frames/s\tload p99 µs\tpeak RSS\tpeak/conn\t1M idle conns\terrors\t")
	for _, l := range r.Large {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f GiB\t%d\t\n",
			l.Engine, l.Kind, l.Connected, l.Echoed, l.ServerFDs, l.DialSeconds,
			fmtBytes(l.IdleRSSPerConn), fmtBytes(l.IdleHeapPerConn), fmtRate(l.LoadFramesPerS), fmtNum(l.LoadP99us, 0),
			fmtBytes(float64(l.PeakRSS)), fmtBytes(l.PeakRSSPerConn), l.MillionIdleGiB, l.ErrorCount)
	}
	tw.Flush()
	for _, l := range r.Large {
		fmt.Fprintf(w, "%s/%s: %d connections, stopped by %s; load generator RLIMIT_NOFILE %d, server %d.\n",
			l.Engine, l.Kind, l.Connected, l.StoppedBy, l.ClientNoFile, l.ServerNoFile)
		for _, e := range l.Errors {
			fmt.Fprintln(w, "  error:", e)
		}
	}
	fmt.Fprintln(w, "\"1M idle conns\" multiplies idle RSS per connection by 10^6 (process memory only; kernel socket buffers come on top).")
}
