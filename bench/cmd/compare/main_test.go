package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ok(vs ...float64) []sample {
	var out []sample
	for _, v := range vs {
		out = append(out, sample{V: v, Others: 0.05})
	}
	return out
}

func starved(vs ...float64) []sample {
	var out []sample
	for _, v := range vs {
		out = append(out, sample{V: v, Others: 0.6})
	}
	return out
}

// Starved rounds do not set the median; when every round is starved the
// median counts them all and says so.
func TestStarvedRoundsLeftOut(t *testing.T) {
	cols := []string{"a", "b"}
	cells := summarize(metric{higherBetter: true}, cols, map[string][]sample{
		"a": append(ok(100, 110, 120), starved(10, 20)...),
		"b": starved(50, 60, 70),
	})
	if a := cells["a"]; a.med != 110 || a.n != 3 || a.starved {
		t.Errorf("a: %+v, want the median of the three rounds not starved", a)
	}
	if b := cells["b"]; b.med != 60 || !b.starved || !strings.Contains(b.String(), "⚠") {
		t.Errorf("b: %+v %q, want the median of all, marked", b, b.String())
	}
}

// The best is called best only when no other column's spread reaches it;
// otherwise the columns whose spreads overlap the best's are tied. Ratios
// run the right way for rates and for times.
func TestBestAndTied(t *testing.T) {
	cols := []string{"a", "b", "c"}
	rate := summarize(metric{higherBetter: true}, cols, map[string][]sample{
		"a": ok(100, 105, 110), "b": ok(50, 52, 54), "c": ok(20, 21),
	})
	if !rate["a"].best || rate["b"].tiedBest || rate["b"].ratio != 105.0/52 {
		t.Errorf("separate spreads: %+v %+v", rate["a"], rate["b"])
	}
	if got := rate["a"].String(); got != "**105.0 (1.00) best**" {
		t.Errorf("best cell %q", got)
	}
	time := summarize(metric{}, cols, map[string][]sample{
		"a": ok(10, 12, 30), "b": ok(11, 13, 14), "c": ok(40, 41, 42),
	})
	if time["a"].best || time["b"].best || !time["a"].tiedBest || !time["b"].tiedBest || time["c"].tiedBest {
		t.Errorf("overlapping spreads: a %+v b %+v c %+v", time["a"], time["b"], time["c"])
	}
	if time["a"].ratio != 1 || time["b"].ratio != 13.0/12 {
		t.Errorf("ratios a %v b %v", time["a"].ratio, time["b"].ratio)
	}
	if got := time["b"].String(); got != "13.00 (1.08) tied" {
		t.Errorf("tied cell %q", got)
	}
	zero := summarize(metric{}, cols, map[string][]sample{"a": ok(0, 0), "b": ok(17, 17), "c": ok(2000, 2000)})
	if got := zero["b"].String(); got != "17.00 (∞)" {
		t.Errorf("against a best of zero: %q", got)
	}
	huge := summarize(metric{}, cols, map[string][]sample{"a": ok(1, 1), "c": ok(2000, 2000)})
	if got := huge["c"].String(); got != "2000 (>1000)" {
		t.Errorf("a huge ratio: %q", got)
	}
	one := summarize(metric{}, cols, map[string][]sample{"a": ok(1), "b": ok(2)})
	if one["a"].best || one["a"].tiedBest {
		t.Error("a single round ranks nothing")
	}
	alone := summarize(metric{}, cols, map[string][]sample{"a": ok(1, 2, 3)})
	if alone["a"].best {
		t.Error("a column alone on its row is not the best of anything")
	}
}

func TestParseBenchmarks(t *testing.T) {
	out := `goos: linux
BenchmarkDecode/wsfsm/16B/read4KiB-2         	11551375	        20.53 ns/op	 779.46 MB/s	         4.424 waited-%	       0 B/op	       0 allocs/op
BenchmarkDecode/gobwas/16B/read4KiB         	 3595345	        57.23 ns/op	 279.60 MB/s	        38.45 waited-%	      16 B/op	       1 allocs/op
BenchmarkDecode/wsfsm/1KiB/read64KiB-2         	 1000000	       838.9 ns/op	  19.07 MB/s	        52.50 cpu-ns/op	        95.32 waited-%	       0 B/op	       0 allocs/op
BenchmarkInPlace/wsfsm/1MiB/inplace   	   18015	     13328 ns/op	78677.26 MB/s	         4.578 waited-%	       0 B/op	       0 allocs/op
BenchmarkMemory/memmove/1MiB/memory-2        	    8298	     29395 ns/op	35672.23 MB/s	         1.647 waited-%
BenchmarkAssemble/gorilla/64KiB   	      45	  17904304 ns/op	 234.26 MB/s	         1.044 gc/op	        75.48 waited-%	 9993992 B/op	      29 allocs/op
PASS
`
	res := results{}
	parseBenchmarks(res, out)
	for _, c := range []struct {
		key, col string
		v        float64
		starved  bool
	}{
		{"decode16Bread4KiB", "wsfsm", 20.53, false},
		{"decode16Bread4KiB", "gobwas", 57.23, true},
		{"inplace1MiB", "wsfsm", 13328, false},
		{"memmove", "memmove", 1048576.0 / 29395, false},
		{"decode1KiBread64KiB", "wsfsm", 52.5, true}, // CPU time, not ns/op
		{"frag64KiB", "gorilla", 17.904304, true},
		{"frag64KiBcpu", "gorilla", 17.904304, true}, // no cpu-ns/op: ns/op
		{"frag64KiBalloc", "gorilla", 29, true},
		{"frag64KiBgc", "gorilla", 1.044, true},
	} {
		ss := res[c.key][c.col]
		if len(ss) != 1 || math.Abs(ss[0].V-c.v) > 1e-9 || ss[0].starved() != c.starved {
			t.Errorf("%s/%s: %+v, want %v starved=%v", c.key, c.col, ss, c.v, c.starved)
		}
	}
}

func TestIdleRoundAt(t *testing.T) {
	var got []int
	for r := 0; r < 5; r++ {
		if idleRoundAt(r, 5, 2) {
			got = append(got, r)
		}
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Errorf("idle rounds of 5: %v", got)
	}
	if !idleRoundAt(0, 1, 1) {
		t.Error("a single round measures idle memory")
	}
}

// The report: every table with its columns, a chart per row, every round
// listed with its starved ones marked, the scheduler's table.
func TestReport(t *testing.T) {
	c := config{cmdline: "cmd", rounds: 2, idleRounds: 1, dur: "1s", warmup: "1s", benchtime: "1ms", idleConns: "10,20", pinned: true, took: time.Second, versions: "x v1"}
	res := results{}
	for i, s := range append(ok(100), starved(40)...) {
		s.Run = "rtt1"
		res.add("rtt1", "wsfsm", s)
		res.add("busyrtt1", "wsfsm", sample{V: 0.5, Others: s.Others})
		res.add("rtt1", "gorilla", sample{V: float64(90 + i), Others: 0})
	}
	res.add("decode16Bread4KiB", "gobwas", sample{V: 40, Others: 0})
	dir := t.TempDir()
	r := writeReport(res, c, dir)
	for _, want := range []string{
		"| metric | unit | wsfsm | wsfsm-loop | wsfsm-http | gorilla | coder | gobwas | gobwas-wsutil | gws | nbio |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
		"| metric | unit | wsfsm | gobwas |\n",
		"| [echo 128 B, 1 connection](charts/rtt1.svg) | msg/s, higher is better | 100.0 (1.00) | — | — | 90.50 (1.10) |", // one round counted: no ranking
		"| echo 128 B, 1 connection | 100.0 · 40.00† (60 %) | — | — | 90.00 · 91.00 |",
		"| wsfsm | 50/95 · — · — · — | 50/40† · — · — · — |",
		"server memory per idle connection, 20 connections",
		"server live heap per idle connection (after GC), 20 connections",
		"Peers, each at its newest release: x v1.",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
	for _, tab := range tables(c) {
		for _, m := range tab.metrics {
			if _, err := os.Stat(filepath.Join(dir, m.key+".svg")); err != nil {
				t.Error(err)
			}
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
