package main

import (
	"fmt"
	"html"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// metric is one row of a table.
type metric struct {
	key, title, unit string
	higherBetter     bool
}

// table is one section of the report.
type table struct {
	title, about string
	columns      []string
	metrics      []metric
}

var fragmentSizes = []struct{ key, words string }{
	{"64B", "64 B fragments"}, {"4KiB", "4 KiB fragments"}, {"64KiB", "64 KiB fragments"}, {"256KiB", "256 KiB fragments"}, {"whole", "one frame"},
}

var frameSizes = []string{"16B", "125B", "1KiB", "64KiB", "1MiB"}

func tables(c config) []table {
	var decode, inplace, frag []metric
	for _, size := range frameSizes {
		for _, r := range []string{"4KiB", "64KiB"} {
			decode = append(decode, metric{"decode" + size + "read" + r, "decode " + size + " frames, reads of ≤ " + r, "CPU ns/frame", false})
		}
		inplace = append(inplace, metric{"inplace" + size, "decode " + size + " frames in place", "CPU ns/frame", false})
	}
	for _, f := range fragmentSizes {
		frag = append(frag,
			metric{"frag" + f.key, "4 MiB message in " + f.words + ": time", "ms/msg", false},
			metric{"frag" + f.key + "cpu", "4 MiB message in " + f.words + ": CPU", "CPU ms/msg", false},
			metric{"frag" + f.key + "alloc", "4 MiB message in " + f.words + ": allocations", "allocs/msg", false},
			metric{"frag" + f.key + "bytes", "4 MiB message in " + f.words + ": bytes allocated", "MiB/msg", false},
			metric{"frag" + f.key + "gc", "4 MiB message in " + f.words + ": GC cycles", "GC/msg", false},
		)
	}
	counts := strings.Split(c.idleConns, ",")
	echo := []metric{
		{"rtt1", "echo 128 B, 1 connection", "msg/s", true},
		{"rtt1p99", "echo 128 B, 1 connection, p99 latency", "µs", false},
		{"rtt1cpu", "echo 128 B, 1 connection, server CPU", "µs/msg", false},
		{"rtt50", "echo 128 B, 50 connections", "msg/s", true},
		{"rtt50p99", "echo 128 B, 50 connections, p99 latency", "µs", false},
		{"rtt50cpu", "echo 128 B, 50 connections, server CPU", "µs/msg", false},
		{"stream64k", "stream 64 KiB messages", "MB/s", true},
		{"stream64kcpu", "stream 64 KiB messages, server CPU", "ms/MB", false},
		{"stream1m", "stream 1 MiB messages", "MB/s", true},
		{"stream1mcpu", "stream 1 MiB messages, server CPU", "ms/MB", false},
	}
	for i, n := range counts {
		echo = append(echo, metric{"idle" + strconv.Itoa(i), "server memory per idle connection, " + n + " connections", "KiB", false})
	}
	for i, n := range counts {
		echo = append(echo, metric{"idleheap" + strconv.Itoa(i), "server live heap per idle connection (after GC), " + n + " connections", "KiB", false})
	}
	return []table{
		{"Decoding frames", "Both decoders read the same stream of masked client frames (about 1 MiB, then again) through the same reader, which copies at most 4 KiB or 64 KiB per `Read` as a socket read does, into a 4 KiB buffer of their own, and deliver each payload unmasked and whole: wsframe as `wsconn` reads (a frame whole in the buffer is handed out where it lies; a larger one is gathered, and a payload of at least 4 KiB is read straight into its place), gobwas as its README and `wsutil` do (`ReadHeader` on a `bufio.Reader`, `io.ReadFull` into the payload buffer, `Cipher`). Only gobwas/ws, among the peers, has a public frame-level reader. The figure is the CPU time the benchmark process used per frame (from the scheduler, /proc/self/task/*/schedstat), which waiting for a CPU on a shared machine does not inflate as it does wall time. `bench/decode`.",
			[]string{"wsfsm", "gobwas"}, decode},
		{"wsframe in place (no peer)", "wsframe parsing the stream where it lies in memory: no copy at all, payloads unmasked in place. No peer decodes this way, so none stands beside it; this is the parser's own cost, not a comparison.",
			[]string{"wsfsm"}, inplace},
		{"The memory bound", "1 MiB of written memory (a never-written source is the kernel's zero page, which stays in cache and overstates bandwidth about twice): `memmove` copies it to another 1 MiB; wsframe's `Mask` and gobwas's `Cipher` mask it in place. A copying reader cannot decode faster than the copy. GB/s of CPU time.",
			[]string{"wsfsm", "gobwas", "memmove"}, []metric{
				{"mask", "mask 1 MiB in place", "GB/s", true},
				{"memmove", "copy 1 MiB (memmove)", "GB/s", true},
			}},
		{"Echo servers", "One process per server (`bench/servers/*`, each written as its library's examples do it, no compression, 16 MiB read limit), driven by `bench/cmd/load`: raw masked frames on `net.Conn`, the same for every server; each load warms up for " + c.warmup + ", then measures " + c.dur + "; the stream keeps 8 messages in flight. Server CPU is the time the scheduler gave the server's threads in the measured window (user and system), per message echoed or per MB: the row least disturbed by a shared machine. `wsfsm` is the raw-TCP server (goroutine per connection); `wsfsm-loop` the same server and handler on the event-loop runtime (`Server.EventLoop`: epoll, handlers on its worker pool); `wsfsm-http` is `server.Upgrade` + `server.ServeConn` inside net/http; `gobwas` is its low-level API (`ReadHeader`/`Cipher`, bufio), `gobwas-wsutil` its high-level one (`ws.UpgradeHTTP`, `wsutil.ReadClientData`). Idle memory: resident memory of a fresh server process per connection (one message each, then held), at " + strings.Join(counts, " and ") + " connections from one run, measured in " + strconv.Itoa(c.idleRounds) + " of the rounds; for wsfsm's servers also the live heap after a collection (`bench/internal/heapstat`), which leaves out the collector's slack.",
			servers, echo},
		{"Assembling a fragmented message (issue 10)", "A 4 MiB binary message in fragments, received whole by a server connection upgraded inside net/http: wsfsm's `Conn.ReadMessage` and gorilla's `Conn.ReadMessage`, both of which return memory the caller owns (a new slice per message), and `wsfsm-append`, wsfsm's `Conn.AppendMessage` into a buffer passed again (gorilla has no counterpart). wsfsm runs with its default options but for the 16 MiB message limit, gorilla's is set the same. A raw client writes the same pre-built masked frames to all over loopback, from a goroutine of the same process. Time is wall time per message; CPU is the process's CPU time per message (receiver, sender and GC together, all on one CPU). `bench/fragments`.",
			[]string{"wsfsm", "wsfsm-append", "gorilla"}, frag},
	}
}

// cell is a row's figure for one column.
type cell struct {
	med      float64
	lo, hi   float64 // the spread of the rounds counted
	n        int     // rounds counted
	starved  bool    // every round was starved: counted anyway
	ok       bool
	ratio    float64
	best     bool
	tiedBest bool
}

// summarize turns one row's samples into cells: the median over the rounds
// that were not starved (all of them when every one was), the ratio to the
// best, and which columns are the best or tied with it (their spreads
// overlap).
func summarize(m metric, cols []string, vals map[string][]sample) map[string]*cell {
	out := map[string]*cell{}
	for _, col := range cols {
		var use []float64
		var all []float64
		for _, s := range vals[col] {
			if math.IsNaN(s.V) {
				continue
			}
			all = append(all, s.V)
			if !s.starved() {
				use = append(use, s.V)
			}
		}
		c := &cell{}
		out[col] = c
		if len(all) == 0 {
			continue
		}
		if len(use) == 0 {
			use, c.starved = all, true
		}
		c.ok, c.n = true, len(use)
		c.med = median(use)
		c.lo, c.hi = slices.Min(use), slices.Max(use)
	}
	var best *cell
	valued := 0
	for _, col := range cols {
		c := out[col]
		if !c.ok {
			continue
		}
		valued++
		if best == nil || (m.higherBetter && c.med > best.med) || (!m.higherBetter && c.med < best.med) {
			best = c
		}
	}
	if best == nil {
		return out
	}
	for _, col := range cols {
		c := out[col]
		if !c.ok {
			continue
		}
		if m.higherBetter {
			c.ratio = best.med / c.med
		} else {
			c.ratio = c.med / best.med
		}
		if best.med == 0 {
			c.ratio = math.Inf(1)
			if c.med == 0 {
				c.ratio = 1
			}
		}
	}
	// Ranking needs something to rank and a spread to rank it against.
	if valued < 2 || best.n < 2 {
		return out
	}
	ties := 0
	for _, col := range cols {
		c := out[col]
		if c.ok && c != best && c.n >= 2 && c.lo <= best.hi && best.lo <= c.hi {
			c.tiedBest = true
			ties++
		}
	}
	if ties > 0 {
		best.tiedBest = true
	} else {
		best.best = true
	}
	return out
}

func (c *cell) String() string {
	if !c.ok {
		return "—"
	}
	r := fmt.Sprintf("%.2f", c.ratio)
	switch {
	case math.IsInf(c.ratio, 1):
		r = "∞" // the best is zero
	case c.ratio >= 1000:
		r = ">1000"
	}
	s := fmt.Sprintf("%s (%s)", format(c.med), r)
	switch {
	case c.best:
		s = "**" + s + " best**"
	case c.tiedBest:
		s += " tied"
	}
	if c.starved {
		s += " ⚠"
	}
	return s
}

func median(vs []float64) float64 {
	var ok []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return math.NaN()
	}
	slices.Sort(ok)
	if len(ok)%2 == 1 {
		return ok[len(ok)/2]
	}
	return (ok[len(ok)/2-1] + ok[len(ok)/2]) / 2
}

func machine(pinned bool) string {
	model := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	goVersion, _ := exec.Command("go", "version").Output()
	where := "load generator on the same machine, nothing pinned (no taskset, or one CPU)"
	if pinned {
		where = fmt.Sprintf("servers and benchmarks pinned to CPU %d (so GOMAXPROCS is 1 for them), the load generator to CPU %d", serverCPU, loadCPU)
	}
	return fmt.Sprintf("%s, %d cores, %s; %s", model, runtime.NumCPU(), strings.TrimSpace(string(goVersion)), where)
}

func format(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1 || v == 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// tableHead writes the head of a Markdown table.
func tableHead(b *strings.Builder, columns ...string) {
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n|")
	b.WriteString(strings.Repeat("---|", len(columns)) + "\n")
}

func dirWords(higherBetter bool) string {
	if higherBetter {
		return "higher is better"
	}
	return "lower is better"
}

func writeReport(res results, c config, charts string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# wsfsm against its peers\n\nMachine: %s.  \n", machine(c.pinned))
	fmt.Fprintf(&b, "Peers, each at its newest release: %s.  \n", c.versions)
	fmt.Fprintf(&b, "Command: `%s` (%d round(s), libraries interleaved, order rotating; benchmarks -benchtime %s); took %s on %s.\n\n",
		c.cmdline, c.rounds, c.benchtime, c.took.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "How to read it. Each cell is the median over the rounds that were not starved, then the ratio to the best column on that row "+
		"(1.00 is the best; for rates higher is better, for times and memory lower, so the ratio reads as \"how far from the best\" either way). "+
		"A round is starved when other work on this shared machine took more than %.0f %% of a pinned CPU during the run (benchmarks: when the benchmark waited for a CPU more than %.0f %% of the time it wanted one); "+
		"starved rounds are listed with the others below, marked †, and do not set a median (⚠: every round was starved, the median counts them all). "+
		"**best** means the best median whose spread (lowest to highest counted round) overlaps no other column's; where spreads overlap, the columns concerned are *tied*, whatever their medians say. "+
		"A single round has no spread and ranks nothing.\n\n", 100*starvedAbove, 100*starvedAbove)
	tabs := tables(c)
	for _, t := range tabs {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", t.title, t.about)
		tableHead(&b, append([]string{"metric", "unit"}, t.columns...)...)
		for _, m := range t.metrics {
			cells := summarize(m, t.columns, res[m.key])
			fmt.Fprintf(&b, "| [%s](charts/%s.svg) | %s, %s |", m.title, m.key, m.unit, dirWords(m.higherBetter))
			for _, col := range t.columns {
				fmt.Fprintf(&b, " %s |", cells[col])
			}
			b.WriteString("\n")
			if charts != "" {
				writeChart(filepath.Join(charts, m.key+".svg"), m, t.columns, cells)
			}
		}
		b.WriteString("\n")
	}
	writeScheduler(&b, res, c)
	b.WriteString("## Every round\n\nThe value of each round, in the order run, per row and column; † marks a starved round, with the part of a CPU other work took (or the benchmark waited) in brackets. A ratio is only worth what the spread of its two columns leaves of it.\n\n")
	for _, t := range tabs {
		fmt.Fprintf(&b, "### %s\n\n", t.title)
		tableHead(&b, append([]string{"metric"}, t.columns...)...)
		for _, m := range t.metrics {
			fmt.Fprintf(&b, "| %s |", m.title)
			for _, col := range t.columns {
				var vs []string
				for _, s := range res[m.key][col] {
					v := format(s.V)
					if s.starved() {
						v += fmt.Sprintf("† (%.0f %%)", 100*s.Others)
					}
					vs = append(vs, v)
				}
				if len(vs) == 0 {
					vs = []string{"—"}
				}
				fmt.Fprintf(&b, " %s |", strings.Join(vs, " · "))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeScheduler writes, per server and round, the CPU the server used and
// the part of its CPU that was left to it in each load run.
func writeScheduler(b *strings.Builder, res results, c config) {
	b.WriteString("## What the scheduler saw\n\n")
	b.WriteString("Per server and round, for each load run in turn (echo at 1 connection · at 50 · stream 64 KiB · stream 1 MiB): the server's CPU time as a percentage of the measured window, then, after the slash, the percentage of the pinned CPUs left to the run by other work (100 minus the larger of what other work took from the server's CPU and from the load generator's). † marks a starved run.\n\n")
	head := []string{"server"}
	for r := 1; r <= c.rounds; r++ {
		head = append(head, fmt.Sprintf("round %d", r))
	}
	tableHead(b, head...)
	runs := []string{"rtt1", "rtt50", "stream64k", "stream1m"}
	for _, lib := range servers {
		fmt.Fprintf(b, "| %s |", lib)
		for r := 0; r < c.rounds; r++ {
			var parts []string
			for _, run := range runs {
				ss := res["busy"+run][lib]
				if r >= len(ss) {
					parts = append(parts, "—")
					continue
				}
				s := ss[r]
				p := fmt.Sprintf("%.0f/%.0f", 100*s.V, 100*(1-s.Others))
				if math.IsNaN(s.Others) {
					p = fmt.Sprintf("%.0f/?", 100*s.V)
				}
				if s.starved() {
					p += "†"
				}
				parts = append(parts, p)
			}
			fmt.Fprintf(b, " %s |", strings.Join(parts, " · "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// writeChart draws a horizontal bar chart of one row, wsfsm highlighted.
func writeChart(path string, m metric, cols []string, cells map[string]*cell) {
	const width, left, barH, gap, top = 680, 120, 22, 8, 44
	maxV := 0.0
	for _, c := range cells {
		if c.ok {
			maxV = math.Max(maxV, c.med)
		}
	}
	height := top + len(cols)*(barH+gap) + 10
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&s, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(m.title))
	fmt.Fprintf(&s, `<text x="10" y="38" fill="#666">%s, %s (median of the rounds counted, the line spans them; ⚠ all starved)</text>`+"\n", html.EscapeString(m.unit), dirWords(m.higherBetter))
	scale := func(v float64) int { return int(float64(width-left-130) * v / maxV) }
	for i, col := range cols {
		y := top + i*(barH+gap)
		c := cells[col]
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, html.EscapeString(col))
		if !c.ok || maxV == 0 {
			fmt.Fprintf(&s, `<text x="%d" y="%d" fill="#999">n/a</text>`+"\n", left+4, y+barH-6)
			continue
		}
		w := max(scale(c.med), 1)
		color := "#8fa3c9"
		if strings.HasPrefix(col, "wsfsm") {
			color = "#2f5fd0"
		}
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, w, barH, color)
		if c.n >= 2 {
			fmt.Fprintf(&s, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#222" stroke-width="2"/>`+"\n", left+scale(c.lo), left+max(scale(c.hi), 1), y+barH/2, y+barH/2)
		}
		label := format(c.med)
		if c.best {
			label += " best"
		} else if c.tiedBest {
			label += " tied"
		}
		if c.starved {
			label += " ⚠"
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d">%s</text>`+"\n", left+max(scale(c.hi), w)+6, y+barH-6, html.EscapeString(label))
	}
	s.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}
