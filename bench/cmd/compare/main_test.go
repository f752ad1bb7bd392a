package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The report: medians, the ratio to the best in the right direction, the
// best in bold, a dash for a library without a value, every round listed,
// and a chart per row.
func TestReport(t *testing.T) {
	values := map[string]map[string][]float64{
		"rtt1":           {"wsfsm": {100, 300, 200}, "gorilla": {400, 400, 400}, "nbio": {math.NaN()}},
		"decode16Bwhole": {"wsfsm": {10, 30, 20}, "gobwas": {40}},
		"idle":           {"wsfsm": {8}, "nbio": {2}},
	}
	dir := t.TempDir()
	r := writeReport(values, 3, "cmd", "3s", 10, time.Second, dir)
	for _, want := range []string{
		"| metric | unit | wsfsm | gorilla | coder | gobwas | gws | nbio |\n|---|---|---|---|---|---|---|---|\n",
		"| 200.0 (2.00) | **400.0 (1.00)** | — | — | — | — |", // msg/s: higher is better
		"| **20.00 (1.00)** | — | — | 40.00 (2.00) | — | — |", // ns: lower is better
		"| 8.00 (4.00) | — | — | — | — | **2.00 (1.00)** |",
		"| metric | wsfsm | gorilla | coder | gobwas | gws | nbio |\n|---|---|---|---|---|---|---|\n",
		"| 100.0 · 300.0 · 200.0 | 400.0 · 400.0 · 400.0 | — |",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
	for _, m := range metrics {
		if _, err := os.Stat(filepath.Join(dir, m.key+".svg")); err != nil {
			t.Error(err)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{math.NaN(), 5}, 5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median([]float64{math.NaN()})) {
		t.Error("median of nothing should be NaN")
	}
}
