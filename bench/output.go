//go:build unix

package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// ensureDir makes dir and, when it is new or has no .gitignore, drops a
// .gitignore of "*" in it, so the results directory ignores itself
// wherever the bench is run from.
func ensureDir(dir string) error {
	if dir == "" || dir == "." {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gi := filepath.Join(dir, ".gitignore")
	if _, err := os.Stat(gi); errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(gi, []byte("# written by go run ./bench: results are not source\n*\n"), 0o644)
	}
	return nil
}

// writeFiles writes the JSON, CSV and chart of a grid run.
func (r *report) writeFiles(cfg *config) error {
	if err := r.writeJSON(cfg.JSONPath); err != nil {
		return err
	}
	if err := r.writeCSV(cfg.CSVPath); err != nil {
		return err
	}
	if err := r.writeChart(cfg.ChartPath); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Printf("\nwrote %s, %s, %s\n", cfg.JSONPath, cfg.CSVPath, cfg.ChartPath)
	return nil
}

func (r *report) writeJSON(path string) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeCSV writes one row per (scenario, engine, kind) with the median,
// min and max of every metric.
func (r *report) writeCSV(path string) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	head := []string{"scenario", "conns", "size", "inflight", "engine", "kind", "runs", "errors"}
	for _, m := range metrics {
		head = append(head, m.Key+"_median", m.Key+"_min", m.Key+"_max")
	}
	w.Write(head)
	for _, c := range r.Cells {
		row := []string{c.Scenario.Name(), strconv.Itoa(c.Scenario.Conns), strconv.Itoa(c.Scenario.Size),
			strconv.Itoa(c.Scenario.Inflight), c.Engine, c.Kind, strconv.Itoa(len(c.Samples)), strconv.Itoa(c.Errors)}
		for _, m := range metrics {
			s := c.Summary[m.Key]
			row = append(row, csvFloat(s.Median), csvFloat(s.Min), csvFloat(s.Max))
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func csvFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// jf maps NaN and ±Inf to JSON null.
func jf(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (s spread) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Median *float64 `json:"median"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
		N      int      `json:"n"`
	}{jf(s.Median), jf(s.Min), jf(s.Max), s.N})
}

func (c comparison) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Ratio    *float64 `json:"ratio"`
		Separate bool     `json:"separate"`
	}{jf(c.Ratio), c.Separate})
}

func (o overhead) MarshalJSON() ([]byte, error) {
	type plain overhead
	return json.Marshal(struct {
		plain
		FPSPair *float64 `json:"fps_ratio_pair_median"`
		CPUPair *float64 `json:"cpu_ratio_pair_median"`
	}{plain(o), jf(o.FPSPair), jf(o.CPUPair)})
}
