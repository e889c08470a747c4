//go:build unix

package main

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// kindStyle gives each server kind a colour and a marker shape.
var kindStyle = map[string]struct {
	color color.Color
	shape draw.GlyphDrawer
	shift float64
}{
	kindFramelink: {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, draw.CircleGlyph{}, -0.15},
	kindBaseline:  {color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, draw.BoxGlyph{}, +0.15},
}

// errPoints is a set of medians with [min, max] whiskers.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// writeChart draws a PNG grid: one column per scenario, one row for
// frames/s and one for p99 latency. In each panel the engines are on the
// x axis; framelink and baseline are side by side, a marker at the median
// with a whisker from the minimum to the maximum run.
func (r *report) writeChart(path string) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	rows := []metric{metricByKey("frames_per_s"), metricByKey("p99_us")}
	plots := make([][]*plot.Plot, len(rows))
	for ri, m := range rows {
		for _, sc := range r.Scenarios {
			p, err := r.panel(sc, m, ri == 0)
			if err != nil {
				return err
			}
			plots[ri] = append(plots[ri], p)
		}
	}
	cols := len(r.Scenarios)
	w, h := vg.Length(cols)*3.6*vg.Inch, 2*3.2*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(rows), Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (r *report) panel(sc scenario, m metric, top bool) (*plot.Plot, error) {
	p := plot.New()
	if top {
		p.Title.Text = sc.Name() + " (conns×size×in flight)"
	}
	unit := map[string]string{"frames_per_s": "frames/s (higher is better)", "p99_us": "p99 latency µs (lower is better)"}[m.Key]
	p.Y.Label.Text = unit
	p.Y.Min = 0
	p.X.Min, p.X.Max = -0.5, float64(len(r.Params.Engines))-0.5
	p.NominalX(r.Params.Engines...)
	p.Y.Tick.Marker = rateTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = m.Key == "p99_us"
	ymax := 0.0
	for _, k := range []string{kindFramelink, kindBaseline} {
		var pts errPoints
		for i, e := range r.Params.Engines {
			c := r.cell(sc, e, k)
			if c == nil {
				continue
			}
			s := c.Summary[m.Key]
			if s.N == 0 || math.IsNaN(s.Median) {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(i) + kindStyle[k].shift, Y: s.Median})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{s.Median - s.Min, s.Max - s.Median})
			ymax = max(ymax, s.Max)
		}
		if len(pts.XYs) == 0 {
			continue
		}
		sty := kindStyle[k]
		sc, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = sty.color
		sc.GlyphStyle.Shape = sty.shape
		sc.GlyphStyle.Radius = vg.Points(4)
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		eb.LineStyle.Color = sty.color
		eb.LineStyle.Width = vg.Points(1.5)
		eb.CapWidth = vg.Points(8)
		p.Add(eb, sc)
		p.Legend.Add(k, sc)
	}
	p.Y.Max = ymax * 1.25 // room for the legend
	if ymax == 0 {
		p.Y.Max = 1
	}
	return p, nil
}

// rateTicks are gonum's default ticks labelled compactly (800k, 1.2M).
type rateTicks struct{}

func (rateTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = tickLabel(ts[i].Value)
		}
	}
	return ts
}

func tickLabel(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
