//go:build unix

package main

import (
	"fmt"
	"math"
	"slices"
)

// spread summarises repeated measurements of one quantity: the median and
// the full range. Ratios are claimed only when ranges do not overlap.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// summarize returns the median and range of xs, ignoring NaNs.
func summarize(xs []float64) spread {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	return spread{Median: median(v), Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// median of xs (which need not be sorted); NaN for none. An even count
// averages the middle two.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	v := slices.Clone(xs)
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// overlaps reports whether the ranges of a and b intersect.
func overlaps(a, b spread) bool { return a.Min <= b.Max && b.Min <= a.Max }

// comparison is a ratio of medians a/b, and whether the spreads allow
// claiming it (their ranges do not overlap).
type comparison struct {
	Ratio    float64 `json:"ratio"`
	Separate bool    `json:"separate"`
}

// compare returns a/b of the medians and whether the ranges are apart.
// A single run has no spread, so it never claims a difference.
func compare(a, b spread) comparison {
	return comparison{Ratio: a.Median / b.Median, Separate: a.N >= 2 && b.N >= 2 && !overlaps(a, b)}
}

// String renders "1.23×" or "1.02× (within noise)".
func (c comparison) String() string {
	if math.IsNaN(c.Ratio) || math.IsInf(c.Ratio, 0) {
		return "n/a"
	}
	if !c.Separate {
		return fmt.Sprintf("%.2f× (within noise)", c.Ratio)
	}
	return fmt.Sprintf("%.2f×", c.Ratio)
}

// pairRatios divides a[i] by b[i] for alternating pairs run back to back.
func pairRatios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}
