// Command compare runs the peer comparison and writes RESULTS.md and one
// SVG chart per metric: frame decoding (go test -bench in ./decode), and for
// each library's echo server (./servers/*, each in its own process, started
// and stopped by this program) round-trip rate and latency, streaming
// throughput and memory per idle connection, measured by ./cmd/load. The
// libraries are interleaved in every round (the order rotates), and each
// figure is the median of the rounds. Loopback only.
//
//	go -C bench run ./cmd/compare          # 5 rounds, under 10 minutes
//	go -C bench run ./cmd/compare -quick   # 1 round, under 2 minutes
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"log"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var libs = []string{"wsfsm", "gorilla", "coder", "gobwas", "gws", "nbio"}

// metric is one row of the table.
type metric struct {
	key, title, unit string
	higherBetter     bool
}

var metrics = append(decodeMetrics(), []metric{
	{"rtt1", "echo 128 B, 1 connection", "msg/s", true},
	{"rtt1p99", "echo 128 B, 1 connection, p99 latency", "µs", false},
	{"rtt50", "echo 128 B, 50 connections", "msg/s", true},
	{"rtt50p99", "echo 128 B, 50 connections, p99 latency", "µs", false},
	{"stream64k", "stream 64 KiB messages", "MB/s", true},
	{"stream1m", "stream 1 MiB messages", "MB/s", true},
	{"idle", "server memory per idle connection", "KiB", false},
}...)

// decodeMetrics are the rows of the decoding benchmarks, one per frame size
// and way of feeding the stream, keyed by the names the benchmarks use.
func decodeMetrics() []metric {
	modes := []struct{ name, words string }{{"whole", "in one buffer"}, {"4KiB", "in 4 KiB chunks"}}
	var out []metric
	for _, size := range []string{"16B", "125B", "1KiB", "64KiB", "1MiB"} {
		for _, mode := range modes {
			out = append(out, metric{"decode" + size + mode.name, "decode " + size + " frames " + mode.words, "ns/frame", false})
		}
	}
	return out
}

type loadResult struct {
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P99us    float64 `json:"p99_us"`
	KiBConn  float64 `json:"kib_per_conn"`
}

func main() {
	quick := flag.Bool("quick", false, "one short round (under 2 minutes)")
	rounds := flag.Int("rounds", 5, "rounds (at least 3 for the published table)")
	out := flag.String("out", "RESULTS.md", "where to write the results")
	charts := flag.String("charts", "charts", "directory for the SVG charts")
	flag.Parse()
	dur, idleConns, benchtime := "3s", 2000, "300ms"
	if *quick {
		*rounds, dur, idleConns, benchtime = 1, "1s", 500, "100ms"
	}
	raiseFileLimit()
	start := time.Now()
	bin, err := os.MkdirTemp("", "wsfsm-compare")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	for _, l := range append([]string{"load"}, libs...) {
		pkg := "./servers/" + l
		if l == "load" {
			pkg = "./cmd/load"
		}
		run("go", "build", "-o", filepath.Join(bin, l), pkg)
	}

	values := map[string]map[string][]float64{} // metric → lib → per-round values
	add := func(m, lib string, v float64) {
		if values[m] == nil {
			values[m] = map[string][]float64{}
		}
		values[m][lib] = append(values[m][lib], v)
	}

	log.Printf("decoding benchmarks (%d rounds)", *rounds)
	decode(add, *rounds, benchtime)

	port := 19300
	for r := 0; r < *rounds; r++ {
		order := append(libs[r%len(libs):], libs[:r%len(libs)]...)
		for _, lib := range order {
			port++
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			log.Printf("round %d/%d: %s on %s", r+1, *rounds, lib, addr)
			srv := startServer(filepath.Join(bin, lib), addr)
			load := func(args ...string) loadResult {
				cmd := exec.Command(filepath.Join(bin, "load"), append([]string{"-addr", addr, "-json"}, args...)...)
				cmd.Stderr = os.Stderr
				b, err := cmd.Output()
				if err != nil {
					log.Printf("%s %v: %v", lib, args, err)
					return loadResult{MsgsPerS: math.NaN(), MBPerS: math.NaN(), P99us: math.NaN(), KiBConn: math.NaN()}
				}
				var res loadResult
				json.Unmarshal(b, &res)
				return res
			}
			res := load("-mode", "rtt", "-conns", "1", "-size", "128", "-duration", dur)
			add("rtt1", lib, res.MsgsPerS)
			add("rtt1p99", lib, res.P99us)
			res = load("-mode", "rtt", "-conns", "50", "-size", "128", "-duration", dur)
			add("rtt50", lib, res.MsgsPerS)
			add("rtt50p99", lib, res.P99us)
			add("stream64k", lib, load("-mode", "stream", "-size", "65536", "-duration", dur).MBPerS)
			add("stream1m", lib, load("-mode", "stream", "-size", "1048576", "-duration", dur).MBPerS)
			stopServer(srv)
			// Memory per idle connection is measured on a fresh process:
			// one that ran the load above keeps the freed memory resident,
			// and new connections would reuse it without raising RSS.
			srv = startServer(filepath.Join(bin, lib), addr)
			add("idle", lib, load("-mode", "idle", "-conns", strconv.Itoa(idleConns), "-pid", strconv.Itoa(srv.Process.Pid)).KiBConn)
			stopServer(srv)
		}
	}

	cmdline := "go -C bench run ./cmd/compare"
	if *quick {
		cmdline += " -quick"
	} else if *rounds != 5 {
		cmdline += fmt.Sprintf(" -rounds %d", *rounds)
	}
	if err := os.MkdirAll(*charts, 0o755); err != nil {
		log.Fatal(err)
	}
	report := writeReport(values, *rounds, cmdline, dur, idleConns, time.Since(start), *charts)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(report)
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %v: %v", name, args, err)
	}
}

// startServer starts an echo server binary on addr and waits until it
// listens.
func startServer(path, addr string) *exec.Cmd {
	srv := exec.Command(path, "-addr", addr)
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	waitListening(addr)
	return srv
}

func stopServer(srv *exec.Cmd) {
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
}

func waitListening(addr string) {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	log.Fatalf("nothing listens on %s", addr)
}

var benchLine = regexp.MustCompile(`^BenchmarkDecode/(\w+)/(\w+)/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op`)

// decode runs the frame-decoding benchmarks, one count per round.
func decode(add func(m, lib string, v float64), rounds int, benchtime string) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "Decode", "-benchtime", benchtime, "-count", strconv.Itoa(rounds), "./decode")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		log.Fatalf("decode benchmarks: %v\n%s", err, b)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[4], 64)
			add("decode"+m[2]+m[3], m[1], v)
		}
	}
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

func machine() string {
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
	return fmt.Sprintf("%s, %d cores, %s; load generator on the same machine", model, runtime.NumCPU(), strings.TrimSpace(string(goVersion)))
}

func format(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// tableHead writes the head of a Markdown table: the given columns, then
// one per library.
func tableHead(b *strings.Builder, columns ...string) {
	cols := append(columns, libs...)
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n|")
	b.WriteString(strings.Repeat("---|", len(cols)) + "\n")
}

func writeReport(values map[string]map[string][]float64, rounds int, cmdline, dur string, idleConns int, took time.Duration, charts string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# wsfsm against its peers\n\nMachine: %s.  \n", machine())
	fmt.Fprintf(&b, "Command: `%s` (%d round(s), libraries interleaved, order rotating; each load run %s; %d idle connections); took %s on %s.\n\n",
		cmdline, rounds, dur, idleConns, took.Round(time.Second), time.Now().UTC().Format("2006-01-02"))
	b.WriteString("Each cell is the median over the rounds, then the ratio to the best library on that row ")
	b.WriteString("(1.00 is the best; for rates higher is better, for times and memory lower is better, so the ratio is value/best either way and reads as \"how far from the best\").\n\n")
	tableHead(&b, "metric", "unit")
	for _, m := range metrics {
		med := map[string]float64{}
		best := math.NaN()
		for _, l := range libs {
			v := math.NaN()
			if vs, ok := values[m.key][l]; ok {
				v = median(vs)
			}
			med[l] = v
			if math.IsNaN(v) {
				continue
			}
			if math.IsNaN(best) || (m.higherBetter && v > best) || (!m.higherBetter && v < best) {
				best = v
			}
		}
		dir := "lower is better"
		if m.higherBetter {
			dir = "higher is better"
		}
		fmt.Fprintf(&b, "| [%s](charts/%s.svg) | %s, %s |", m.title, m.key, m.unit, dir)
		for _, l := range libs {
			v := med[l]
			if math.IsNaN(v) {
				b.WriteString(" — |")
				continue
			}
			ratio := v / best
			if m.higherBetter {
				ratio = best / v
			}
			cell := fmt.Sprintf("%s (%.2f)", format(v), ratio)
			if ratio == 1 {
				cell = "**" + cell + "**"
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
		writeChart(filepath.Join(charts, m.key+".svg"), m, med)
	}
	b.WriteString("\nDecoding: only gobwas/ws, among the peers, has a public frame-level reader (`ws.ReadHeader` + `ws.Cipher`); ")
	b.WriteString("wsframe unmasks in place and hands out slices of the input, gobwas reads the payload into the caller's buffer. ")
	b.WriteString("Echo servers: `bench/servers/*`, each written as its library's examples do it, no compression, 16 MiB read limit. ")
	b.WriteString("Load: `bench/cmd/load`, raw masked frames on `net.Conn`, the same for every server.\n")
	// The spread says how much of a difference the noise of this machine
	// can explain.
	b.WriteString("\n## Every round\n\nThe value of each round, in the order run, per row and library: a ratio is only worth what the spread of its two values leaves of it.\n\n")
	tableHead(&b, "metric")
	for _, m := range metrics {
		fmt.Fprintf(&b, "| %s |", m.title)
		for _, l := range libs {
			var vs []string
			for _, v := range values[m.key][l] {
				vs = append(vs, format(v))
			}
			if len(vs) == 0 {
				vs = []string{"—"}
			}
			fmt.Fprintf(&b, " %s |", strings.Join(vs, " · "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeChart draws a horizontal bar chart of one metric, wsfsm highlighted.
func writeChart(path string, m metric, med map[string]float64) {
	const width, left, barH, gap, top = 640, 90, 22, 8, 44
	maxV := 0.0
	for _, v := range med {
		if !math.IsNaN(v) {
			maxV = math.Max(maxV, v)
		}
	}
	height := top + len(libs)*(barH+gap) + 10
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	dir := "lower is better"
	if m.higherBetter {
		dir = "higher is better"
	}
	fmt.Fprintf(&s, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(m.title))
	fmt.Fprintf(&s, `<text x="10" y="38" fill="#666">%s, %s (median)</text>`+"\n", html.EscapeString(m.unit), dir)
	for i, l := range libs {
		y := top + i*(barH+gap)
		v := med[l]
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, l)
		if math.IsNaN(v) || maxV == 0 {
			fmt.Fprintf(&s, `<text x="%d" y="%d" fill="#999">n/a</text>`+"\n", left+4, y+barH-6)
			continue
		}
		w := int(float64(width-left-110) * v / maxV)
		color := "#8fa3c9"
		if l == "wsfsm" {
			color = "#2f5fd0"
		}
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, max(w, 1), barH, color)
		fmt.Fprintf(&s, `<text x="%d" y="%d">%s</text>`+"\n", left+max(w, 1)+6, y+barH-6, format(v))
	}
	s.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
