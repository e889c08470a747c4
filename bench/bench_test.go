//go:build unix

package main

// Tests of the bench's own pieces: the payload verifier, the load
// generator's detection of corrupted, missing and duplicated echoes
// against fake in-process servers, and the median/spread/ratio maths.
//
// r[verify tools.bench]

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 7, 12, 13, 64, 4096, 3*patternLen + 5} {
		for _, seq := range []uint64{0, 1, 1 << 40} {
			b := make([]byte, size)
			fillPayload(b, 7, seq)
			if err := verifyPayload(b, 7, seq); err != nil {
				t.Fatalf("size %d seq %d: %v", size, seq, err)
			}
			if size == 0 {
				continue
			}
			// Any single flipped byte is caught.
			for _, i := range []int{0, size / 2, size - 1} {
				b[i] ^= 0x40
				if verifyPayload(b, 7, seq) == nil {
					t.Fatalf("size %d seq %d: flipped byte %d not detected", size, seq, i)
				}
				b[i] ^= 0x40
			}
		}
	}
	b := make([]byte, 64)
	fillPayload(b, 7, 5)
	if verifyPayload(b, 7, 6) == nil {
		t.Fatal("frame of another sequence number accepted")
	}
	if verifyPayload(b, 8, 5) == nil {
		t.Fatal("frame of another connection accepted")
	}
	// Payload content (not only the header) depends on the sequence.
	c := make([]byte, 64)
	fillPayload(c, 7, 6)
	if string(b[payloadHeader:]) == string(c[payloadHeader:]) {
		t.Fatal("payload body does not depend on the sequence number")
	}
}

// fakeServer echoes frames through mutate, which returns the frames to
// send back for the i-th frame received on a connection (i from 0).
func fakeServer(t *testing.T, mutate func(i int, frame []byte) [][]byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for i := 0; ; i++ {
					var hdr [4]byte
					if _, err := io.ReadFull(r, hdr[:]); err != nil {
						return
					}
					f := make([]byte, 4+binary.LittleEndian.Uint32(hdr[:]))
					copy(f, hdr[:])
					if _, err := io.ReadFull(r, f[4:]); err != nil {
						return
					}
					for _, out := range mutate(i, f) {
						if _, err := c.Write(out); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// runFake offers a short load to addr and returns the totals.
func runFake(t *testing.T, addr string, conns, size, inflight int) loadTotals {
	t.Helper()
	lg := newLoadGen(loadConfig{Addr: addr, Conns: conns, Size: size, Inflight: inflight, DrainTimeout: 300 * time.Millisecond})
	if err := lg.dial(conns, 4); err != nil {
		t.Fatal(err)
	}
	lg.start()
	time.Sleep(20 * time.Millisecond)
	lg.setPhase(phaseMeasure)
	time.Sleep(100 * time.Millisecond)
	return lg.finish()
}

func TestLoadGenCleanEcho(t *testing.T) {
	addr := fakeServer(t, func(_ int, f []byte) [][]byte { return [][]byte{f} })
	for _, size := range []int{1, 64, 4096} {
		tot := runFake(t, addr, 3, size, 8)
		if tot.ErrorCount != 0 || tot.Frames == 0 || tot.Hist.TotalCount() != int64(tot.Frames) {
			t.Fatalf("size %d: clean echo: %d errors %v, %d frames, %d latencies", size, tot.ErrorCount, tot.Errors, tot.Frames, tot.Hist.TotalCount())
		}
	}
	// A window too large for one goroutine uses the split writer.
	tot := runFake(t, addr, 2, 64<<10, 4)
	if tot.ErrorCount != 0 || tot.Frames == 0 {
		t.Fatalf("split mode: %d errors %v, %d frames", tot.ErrorCount, tot.Errors, tot.Frames)
	}
}

func TestLoadGenCatchesBadEchoes(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(i int, f []byte) [][]byte
		want   string
	}{
		{"flipped byte", func(i int, f []byte) [][]byte {
			if i == 50 {
				g := append([]byte(nil), f...)
				g[len(g)-3] ^= 1
				return [][]byte{g}
			}
			return [][]byte{f}
		}, "payload byte"},
		{"dropped frame", func(i int, f []byte) [][]byte {
			if i == 50 {
				return nil
			}
			return [][]byte{f}
		}, "mismatch"},
		{"silent after 50 frames", func(i int, f []byte) [][]byte {
			if i >= 50 {
				return nil
			}
			return [][]byte{f}
		}, "never echoed"},
		{"duplicated frame", func(i int, f []byte) [][]byte {
			if i == 50 {
				return [][]byte{f, f}
			}
			return [][]byte{f}
		}, "mismatch|never sent"}, // which depends on whether the copy arrives while the run is still sending
		{"wrong length", func(i int, f []byte) [][]byte {
			if i == 50 {
				g := append([]byte(nil), f...)
				binary.LittleEndian.PutUint32(g, uint32(len(f)-5))
				return [][]byte{g[:len(g)-1]}
			}
			return [][]byte{f}
		}, "length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := fakeServer(t, c.mutate)
			tot := runFake(t, addr, 1, 64, 4)
			if tot.ErrorCount == 0 {
				t.Fatalf("not detected: %d frames verified, no error", tot.Verified)
			}
			if !regexp.MustCompile(c.want).MatchString(strings.Join(tot.Errors, "\n")) {
				t.Fatalf("errors %q do not mention %q", tot.Errors, c.want)
			}
		})
	}
}

func TestMedianSpreadRatio(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median even = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Fatal("median of none is not NaN")
	}
	s := summarize([]float64{5, math.NaN(), 1, 3})
	if s != (spread{Median: 3, Min: 1, Max: 5, N: 3}) {
		t.Fatalf("summarize = %+v", s)
	}
	a := summarize([]float64{10, 11, 12})
	b := summarize([]float64{5, 6, 7})
	c := compare(a, b)
	if math.Abs(c.Ratio-11.0/6) > 1e-12 || !c.Separate || strings.Contains(c.String(), "noise") {
		t.Fatalf("apart: %+v %s", c, c)
	}
	o := compare(a, summarize([]float64{9, 10.5, 13}))
	if o.Separate || !strings.Contains(o.String(), "within noise") {
		t.Fatalf("overlapping spreads claimed: %+v %s", o, o)
	}
	// One run each has no spread: never claim.
	if compare(summarize([]float64{2}), summarize([]float64{1})).Separate {
		t.Fatal("single runs claimed a difference")
	}
	pr := pairRatios([]float64{2, math.NaN(), 9}, []float64{1, 1, 3, 4})
	if len(pr) != 2 || pr[0] != 2 || pr[1] != 3 {
		t.Fatalf("pairRatios = %v", pr)
	}
}

func TestParseScenarios(t *testing.T) {
	if _, err := parseScenarios("64x16"); err == nil {
		t.Fatal("two-part scenario accepted")
	}
	sc, err := parseScenarios("64x4KiBx16,1x64x1")
	if err != nil || len(sc) != 2 || sc[0] != (scenario{64, 4096, 16}) || sc[0].Name() != "64c×4KiB×16" {
		t.Fatalf("got %v, %v", sc, err)
	}
	g, err := gridScenarios("1,64", "64", "1,16")
	if err != nil || len(g) != 4 {
		t.Fatalf("grid %v %v", g, err)
	}
}

// r[verify perf.overhead]: the result of the overhead check is "meets"
// only when both pair medians satisfy the requirement; a CPU/frame
// median over 1 is never "meets", only "within noise" while the ranges
// overlap.
func TestOverheadResult(t *testing.T) {
	apart, overlap := comparison{Separate: true}, comparison{}
	for _, tc := range []struct {
		name   string
		o      overhead
		result string
		note   string
	}{
		{"parity", overhead{Pairs: 5, FPSPair: 0.99, CPUPair: 0.98, CPU: apart}, resultMeets, ""},
		{"cpu over, overlap", overhead{Pairs: 9, FPSPair: 0.98, CPUPair: 1.059, CPU: overlap}, resultNoise, "server CPU/frame +5.9%, ranges overlap"},
		{"cpu over, apart", overhead{Pairs: 9, FPSPair: 0.98, CPUPair: 1.2, CPU: apart}, resultMisses, "server CPU/frame +20.0%, ranges apart"},
		{"fps under", overhead{Pairs: 5, FPSPair: 0.9, CPUPair: 1.02, CPU: overlap}, resultMisses, "frames/s 90.0% < 95%; server CPU/frame +2.0%, ranges overlap"},
		{"few pairs", overhead{Pairs: 3, FPSPair: 1, CPUPair: 1}, resultMisses, "only 3 pairs (need ≥ 5)"},
		{"no pair", overhead{}, resultMisses, "no successful pair"},
	} {
		if r, n := overheadResult(tc.o); r != tc.result || n != tc.note {
			t.Errorf("%s: %q, %q; want %q, %q", tc.name, r, n, tc.result, tc.note)
		}
	}
}

// The control kind runs the baseline's server, is compared with the
// baseline pair by pair like framelink, and is never judged.
func TestControlKind(t *testing.T) {
	if _, ok := lookupServer("gnet", kindBaseline); !ok {
		t.Skip("gnet baseline not compiled in")
	}
	base, _ := lookupServer("gnet", kindBaseline)
	ctl, ok := lookupServer("gnet", kindControl)
	if !ok || ctl == nil || base == nil {
		t.Fatal("no control server for gnet")
	}
	sc := scenario{64, 64, 16}
	mk := func(kind string, cpu float64, fps ...float64) *cell {
		c := &cell{Scenario: sc, Engine: "gnet", Kind: kind}
		for i, f := range fps {
			c.Samples = append(c.Samples, sample{Engine: "gnet", Kind: kind, Repeat: i, Frames: 1000, FramesPerSec: f, CPUPerMFrames: cpu})
		}
		c.summarize()
		return c
	}
	r := &report{
		Scenarios: []scenario{sc},
		Params:    reportParams{Engines: []string{"gnet"}},
		Cells: []*cell{
			mk(kindFramelink, 1.05, 98, 97, 99, 98, 96),
			mk(kindBaseline, 1.00, 100, 100, 100, 100, 100),
			mk(kindControl, 0.99, 101, 99, 100, 102, 98),
		},
	}
	r.analyse()
	if len(r.Overhead) != 2 {
		t.Fatalf("%d overhead rows, want framelink and control: %+v", len(r.Overhead), r.Overhead)
	}
	fl, co := r.Overhead[0], r.Overhead[1]
	if fl.Kind != kindFramelink || fl.Result != resultMisses || fl.Meets {
		t.Errorf("framelink row: %+v", fl)
	}
	if co.Kind != kindControl || co.Result != resultControl || co.Meets || co.Pairs != 5 ||
		math.Abs(co.FPSPair-1.0) > 1e-9 || math.Abs(co.CPUPair-0.99) > 1e-9 {
		t.Errorf("control row: %+v", co)
	}
	for _, v := range r.Verdicts {
		if strings.Contains(v, "control") {
			t.Errorf("the control is in a verdict: %s", v)
		}
	}
}
