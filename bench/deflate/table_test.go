package deflatebench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const idleK = 8 // messages each idle connection echoed before going quiet

func idleN() int {
	if n, err := strconv.Atoi(os.Getenv("DEFLATE_IDLE_N")); err == nil && n > 0 {
		return n
	}
	return 1000
}

type column struct {
	l Lib
	m Mode
}

func (c column) String() string { return c.l.Name + "-" + c.m.String() }

type metric struct {
	name  string // row label
	unit  string
	exact bool // deterministic: one value, no spread
}

// TestTable is the runner: every row, every library, interleaved over
// DEFLATE_ROUNDS rounds (default 3) with the column order rotating, then
// one table per takeover mode as ratios to the best. Off unless
// DEFLATE_TABLE=1; DEFLATE_OUT names a file for the markdown, relative to
// this package's directory (where go test runs it).
//
//	cd bench && DEFLATE_TABLE=1 DEFLATE_ROUNDS=5 DEFLATE_IDLE_N=1000 DEFLATE_OUT=RESULTS.md go test -count=1 -run TestTable -v -timeout 60m -benchtime 500ms ./deflate
func TestTable(t *testing.T) {
	if os.Getenv("DEFLATE_TABLE") != "1" {
		t.Skip("set DEFLATE_TABLE=1 to run the comparison")
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("DEFLATE_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	var cols []column
	for _, l := range Libs {
		for _, m := range l.Modes {
			cols = append(cols, column{l, m})
		}
	}
	// values[row][column] over the rounds
	values := map[string]map[string][]float64{}
	add := func(row string, c column, v float64) {
		if values[row] == nil {
			values[row] = map[string][]float64{}
		}
		values[row][c.String()] = append(values[row][c.String()], v)
	}
	var rows []metric
	addRow := func(name, unit string, exact bool) {
		if !slices.ContainsFunc(rows, func(r metric) bool { return r.name == name }) {
			rows = append(rows, metric{name, unit, exact})
		}
	}
	start := time.Now()
	load0 := loadavg()
	kinds := []struct {
		name string
		f    func(*testing.B, Lib, Mode, string)
	}{{"echo", benchEcho}, {"compress", benchCompress}, {"inflate", benchInflate}}

	// Deterministic rows first: bytes on the wire for one pass.
	for _, corpus := range []string{"small", "doc"} {
		for _, c := range cols {
			tp := tapeFor(t, c.l, c.m, corpus)
			up, down := float64(tp.Up)/float64(tp.Messages), float64(tp.Down)/float64(tp.Messages)
			raw := float64(tp.Raw) / float64(tp.Messages)
			addRow(corpus+": wire bytes per message, client to server", "B", true)
			add(corpus+": wire bytes per message, client to server", c, up)
			addRow(corpus+": wire bytes per message, server to client", "B", true)
			add(corpus+": wire bytes per message, server to client", c, down)
			addRow(corpus+": wire/payload, server to client", "ratio", true)
			add(corpus+": wire/payload, server to client", c, down/raw)
		}
	}
	for r := range rounds {
		for _, corpus := range []string{"small", "doc"} {
			for _, k := range kinds {
				for i := range cols {
					c := cols[(i+r)%len(cols)]
					res := testing.Benchmark(func(b *testing.B) { k.f(b, c.l, c.m, corpus) })
					if res.N == 0 {
						t.Fatalf("%s %s %v: benchmark failed", corpus, k.name, c)
					}
					p := corpus + ": " + k.name + ", "
					addRow(p+"wall time per message", "µs", false)
					add(p+"wall time per message", c, float64(res.T.Nanoseconds())/float64(res.N)/1e3)
					addRow(p+"CPU time per message", "µs", false)
					add(p+"CPU time per message", c, res.Extra["cpu-ns/msg"]/1e3)
					{
						addRow(p+"allocations per message", "allocs", false)
						add(p+"allocations per message", c, float64(res.MemAllocs)/float64(res.N))
						addRow(p+"bytes allocated per message", "B", false)
						add(p+"bytes allocated per message", c, float64(res.MemBytes)/float64(res.N))
					}
					t.Logf("round %d %s %s %v: %s %v", r+1, corpus, k.name, c, res, res.Extra)
				}
			}
		}
		for _, doc := range []bool{false, true} {
			for i := range cols {
				c := cols[(i+r)%len(cols)]
				n, label := idleN(), fmt.Sprintf("idle pair (server + client) after %d small messages", idleK)
				if doc {
					n, label = max(1, idleN()/5), fmt.Sprintf("idle pair after %d small messages and a 256 KiB document", idleK)
				}
				heap, g, err := Idle(c.l, c.m, n, idleK, doc)
				if err != nil {
					t.Fatalf("idle %v: %v", c, err)
				}
				addRow(label+": heap", "KiB", false)
				add(label+": heap", c, heap/1024)
				addRow(label+": goroutines", "goroutines", false)
				add(label+": goroutines", c, g)
				t.Logf("round %d %s %v: %.0f B/pair, %.2f goroutines/pair (%d pairs)", r+1, label, c, heap, g, n)
				runtime.GC()
			}
		}
	}
	load1 := loadavg()

	var out strings.Builder
	fmt.Fprintf(&out, "# permessage-deflate: wsfsm against gorilla, coder and gws\n\n")
	fmt.Fprintf(&out, "Machine: %d CPUs (GOMAXPROCS %d), %s %s/%s. Load average before: %s; after: %s.  \n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, load0, load1)
	fmt.Fprintf(&out, "Command: `cd bench && DEFLATE_TABLE=1 DEFLATE_ROUNDS=%d DEFLATE_IDLE_N=%d DEFLATE_OUT=RESULTS.md go test -count=1 -run TestTable -v -timeout 60m -benchtime %s ./deflate` (%d rounds, libraries interleaved, order rotating; %d idle pairs, %d after a document); took %s, finished %s.\n\n",
		rounds, idleN(), benchtime(), rounds, idleN(), max(1, idleN()/5), time.Since(start).Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&out, "Versions:")
	for _, l := range Libs {
		fmt.Fprintf(&out, " %s %s;", l.Module, moduleVersion(l))
	}
	fmt.Fprintf(&out, "\n\n")
	noise := writeTables(&out, rows, values, cols, rounds)
	fmt.Fprintf(&out, "\nNoise: over the wall- and CPU-time cells, the spread (max−min)/median of the rounds was %s.\n", noise)
	fmt.Print(out.String())
	if p := os.Getenv("DEFLATE_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// moduleVersion is the version in the build info, or else in ../go.mod
// (test binaries may carry no dependency list).
func moduleVersion(l Lib) string {
	if v := l.Version(); v != "?" {
		return v
	}
	if l.Module == "github.com/wsfsm/wsfsm" {
		return "this tree"
	}
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == l.Module {
			return f[1]
		}
	}
	return "?"
}

func benchtime() string {
	for _, a := range os.Args {
		if v, ok := strings.CutPrefix(a, "-test.benchtime="); ok {
			return v
		}
	}
	return "1s"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func num(v float64) string {
	switch a := v; {
	case a == 0:
		return "0"
	case a < 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case a < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 10000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// writeTables writes one table per mode (columns of that mode only) and
// the per-round values; it returns a summary of the spread.
func writeTables(out *strings.Builder, rows []metric, values map[string]map[string][]float64, cols []column, rounds int) string {
	var spreads []float64
	for _, m := range []Mode{Takeover, NoTakeover} {
		var mc []column
		for _, c := range cols {
			if c.m == m {
				mc = append(mc, c)
			}
		}
		if m == Takeover {
			fmt.Fprintf(out, "## Context takeover both ways\n\ngorilla/websocket is absent: it negotiates only no context takeover.\n\n")
		} else {
			fmt.Fprintf(out, "## No context takeover (server_no_context_takeover; client_no_context_takeover)\n\n")
		}
		fmt.Fprintf(out, "| row | unit |")
		for _, c := range mc {
			fmt.Fprintf(out, " %s |", c.l.Name)
		}
		fmt.Fprintf(out, "\n|---|---|%s\n", strings.Repeat("---|", len(mc)))
		for _, r := range rows {
			best, bestCol := 0.0, ""
			for _, c := range mc {
				v := values[r.name][c.String()]
				if len(v) == 0 {
					continue
				}
				if med := median(v); bestCol == "" || med < best {
					best, bestCol = med, c.String()
				}
			}
			fmt.Fprintf(out, "| %s | %s |", r.name, r.unit)
			bv := values[r.name][bestCol]
			for _, c := range mc {
				v := values[r.name][c.String()]
				if len(v) == 0 {
					fmt.Fprintf(out, " — |")
					continue
				}
				med := median(v)
				if strings.Contains(r.name, "time per message") && med > 0 {
					spreads = append(spreads, (slices.Max(v)-slices.Min(v))/med)
				}
				ratio := "1.00"
				if best > 0 {
					ratio = strconv.FormatFloat(med/best, 'f', 2, 64)
				}
				switch {
				case c.String() == bestCol:
					fmt.Fprintf(out, " **%s (1.00)** |", num(med))
				case !r.exact && slices.Min(v) <= slices.Max(bv):
					fmt.Fprintf(out, " %s (%s, tied) |", num(med), ratio)
				default:
					fmt.Fprintf(out, " %s (%s) |", num(med), ratio)
				}
			}
			fmt.Fprintf(out, "\n")
		}
		fmt.Fprintf(out, "\n")
	}
	fmt.Fprintf(out, "## Every round\n\nThe value of each round in the order run (%d rounds); wire bytes are one deterministic pass.\n\n| row | ", rounds)
	for _, c := range cols {
		fmt.Fprintf(out, "%s | ", c)
	}
	fmt.Fprintf(out, "\n|---|%s\n", strings.Repeat("---|", len(cols)))
	for _, r := range rows {
		fmt.Fprintf(out, "| %s |", r.name)
		for _, c := range cols {
			v := values[r.name][c.String()]
			s := make([]string, len(v))
			for i, x := range v {
				s[i] = num(x)
			}
			if len(s) == 0 {
				fmt.Fprintf(out, " — |")
			} else {
				fmt.Fprintf(out, " %s |", strings.Join(s, " · "))
			}
		}
		fmt.Fprintf(out, "\n")
	}
	if len(spreads) == 0 {
		return "not measured"
	}
	slices.Sort(spreads)
	return fmt.Sprintf("median %.0f %%, worst %.0f %% (%d cells)", 100*median(spreads), 100*spreads[len(spreads)-1], len(spreads))
}
