//go:build unix

package main

import (
	"fmt"
	"math"
	"time"
)

// scenario is one point of the grid.
type scenario struct {
	Conns    int `json:"conns"`
	Size     int `json:"size"`
	Inflight int `json:"inflight"`
}

// Name is like "64c×4KiB×16".
func (s scenario) Name() string {
	return fmt.Sprintf("%dc×%s×%d", s.Conns, sizeName(s.Size), s.Inflight)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// sample is the outcome of one run of one server kind on one scenario.
type sample struct {
	Engine         string  `json:"engine"`
	Kind           string  `json:"kind"`
	Repeat         int     `json:"repeat"`
	Seconds        float64 `json:"seconds"` // measured window
	Frames         uint64  `json:"frames"`  // verified echoes in the window
	FramesPerSec   float64 `json:"frames_per_s"`
	MBPerSec       float64 `json:"mb_per_s"` // payload MB (1e6) echoed per second, one direction
	P50us          float64 `json:"p50_us"`
	P99us          float64 `json:"p99_us"`
	P999us         float64 `json:"p999_us"`
	CPUPerMFrames  float64 `json:"server_cpu_s_per_mframe"`
	ServerCPUUtil  float64 `json:"server_cpu_cores"` // CPU seconds per wall second
	ClientCPUUtil  float64 `json:"loadgen_cpu_cores"`
	PeakRSS        int64   `json:"server_peak_rss"`
	AllocsPerFrame float64 `json:"server_allocs_per_frame"`
	runErrors
}

// metric selects one number of a sample.
type metric struct {
	Key    string
	Header string
	Get    func(sample) float64
	Better int // +1 higher is better, -1 lower is better
}

var metrics = []metric{
	{"frames_per_s", "frames/s", func(s sample) float64 { return s.FramesPerSec }, +1},
	{"mb_per_s", "MB/s", func(s sample) float64 { return s.MBPerSec }, +1},
	{"p50_us", "p50 µs", func(s sample) float64 { return s.P50us }, -1},
	{"p99_us", "p99 µs", func(s sample) float64 { return s.P99us }, -1},
	{"p999_us", "p999 µs", func(s sample) float64 { return s.P999us }, -1},
	{"cpu_s_per_mframe", "srv CPU s/Mfr", func(s sample) float64 { return s.CPUPerMFrames }, -1},
	{"peak_rss_mib", "srv peak RSS MiB", func(s sample) float64 { return float64(s.PeakRSS) / (1 << 20) }, -1},
	{"allocs_per_frame", "srv allocs/frame", func(s sample) float64 { return s.AllocsPerFrame }, -1},
	{"server_cpu_cores", "srv CPU cores", func(s sample) float64 { return s.ServerCPUUtil }, 0},
	{"loadgen_cpu_cores", "loadgen CPU cores", func(s sample) float64 { return s.ClientCPUUtil }, 0},
}

func metricByKey(k string) metric {
	for _, m := range metrics {
		if m.Key == k {
			return m
		}
	}
	panic("unknown metric " + k)
}

// cell is every repeat of one (scenario, engine, kind), summarised.
type cell struct {
	Scenario scenario          `json:"scenario"`
	Engine   string            `json:"engine"`
	Kind     string            `json:"kind"`
	Samples  []sample          `json:"samples"`
	Summary  map[string]spread `json:"summary"`
	Errors   int               `json:"error_count"`
}

// values returns the metric over the cell's error-free samples, in
// repeat order (NaN for a failed run keeps pairs aligned).
func (c *cell) values(m metric) []float64 {
	out := make([]float64, len(c.Samples))
	for i, s := range c.Samples {
		if s.ErrorCount > 0 || s.Frames == 0 {
			out[i] = math.NaN()
		} else {
			out[i] = m.Get(s)
		}
	}
	return out
}

func (c *cell) summarize() {
	c.Summary = map[string]spread{}
	c.Errors = 0
	for _, s := range c.Samples {
		c.Errors += s.ErrorCount
	}
	for _, m := range metrics {
		c.Summary[m.Key] = summarize(c.values(m))
	}
}

// runParams are the timing knobs of a grid run.
type runParams struct {
	Warmup   time.Duration
	Duration time.Duration
	Drain    time.Duration
}

// runOne starts the server process, offers the scenario's load and
// measures one sample. Failures are recorded in the sample, never
// dropped.
func runOne(engine, kind string, sc scenario, rp runParams, repeat int) (smp sample) {
	smp = sample{Engine: engine, Kind: kind, Repeat: repeat}
	bad := func(err error) sample {
		smp.add(err)
		return smp
	}
	p, err := startServerProc(engine, kind)
	if err != nil {
		return bad(err)
	}
	defer p.stopInto(&smp.runErrors)
	lg := newLoadGen(loadConfig{
		Addr: p.addr, Conns: sc.Conns, Size: sc.Size, Inflight: sc.Inflight,
		SpreadSources: sc.Conns > 1000, DrainTimeout: rp.Drain,
	})
	if err := lg.dial(sc.Conns, 32); err != nil {
		lg.close()
		return bad(err)
	}
	lg.start()
	time.Sleep(rp.Warmup)
	s0, err0 := p.stats(false)
	c0 := selfCPU()
	lg.setPhase(phaseMeasure)
	t0 := time.Now()
	time.Sleep(rp.Duration)
	lg.setPhase(phaseStop)
	el := time.Since(t0).Seconds()
	c1 := selfCPU()
	s1, err1 := p.stats(false)
	tot := lg.finish()
	smp.merge(tot.ErrorCount, tot.Errors)
	if err := firstErr(err0, err1); err != nil {
		return bad(err)
	}
	smp.Seconds = el
	smp.Frames = tot.Frames
	if tot.Frames == 0 {
		return bad(fmt.Errorf("no frame echoed in the %v window", rp.Duration))
	}
	f := float64(tot.Frames)
	smp.FramesPerSec = f / el
	smp.MBPerSec = f * float64(sc.Size) / el / 1e6
	smp.P50us = float64(tot.Hist.ValueAtQuantile(50)) / 1e3
	smp.P99us = float64(tot.Hist.ValueAtQuantile(99)) / 1e3
	smp.P999us = float64(tot.Hist.ValueAtQuantile(99.9)) / 1e3
	cpu := s1.CPUSec() - s0.CPUSec()
	smp.CPUPerMFrames = cpu / f * 1e6
	smp.ServerCPUUtil = cpu / el
	smp.ClientCPUUtil = (c1 - c0) / el
	smp.PeakRSS = s1.PeakRSS
	smp.AllocsPerFrame = float64(s1.Mallocs-s0.Mallocs) / f
	return smp
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
