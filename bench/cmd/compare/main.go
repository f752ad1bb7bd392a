// Command compare runs the peer comparison and writes RESULTS.md and one
// SVG chart per row:
//
//   - frame decoding, every decoder reading through the same copying
//     reader (./decode), and wsframe in place on its own;
//   - the memory bound: memmove of written memory, masking in place;
//   - per library's echo server (./servers/*, each in its own process):
//     round trips at 1 and 50 connections, streaming 64 KiB and 1 MiB
//     messages, with the server's CPU time per message and per MB, and
//     memory per idle connection at two counts (./cmd/load);
//   - assembling a 4 MiB fragmented message, wsfsm against gorilla
//     (./fragments).
//
// Where taskset and two CPUs are available, servers and benchmarks run on
// CPU 1 and the load generator on CPU 0. Every run reports how much of the
// pinned CPUs other work took (or, for benchmarks, how long they waited
// for a CPU); a run where that passed a quarter is starved: it is shown,
// marked, and left out of the median. The libraries are interleaved in
// every round, the order rotating. Loopback only.
//
//	go -C bench run ./cmd/compare          # 5 rounds, about 10 minutes (12 on a starved machine)
//	go -C bench run ./cmd/compare -quick   # 1 short round, about 2 minutes
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
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

	"github.com/wsfsm/wsfsm/bench/internal/heapstat"
)

// servers are the echo servers, each a directory of ./servers.
var servers = []string{"wsfsm", "wsfsm-loop", "wsfsm-http", "gorilla", "coder", "gobwas", "gobwas-wsutil", "gws", "nbio"}

// peers are the modules compared against, named with their versions in
// the report.
var peers = []string{"github.com/gorilla/websocket", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/lxzan/gws", "github.com/lesismal/nbio"}

// starvedAbove: a run in which other work took more than this part of a
// pinned CPU (or a benchmark waited this part of the time it wanted a
// CPU) is starved.
const starvedAbove = 0.25

// The CPUs servers and benchmarks, and the load generator, are pinned to.
const serverCPU, loadCPU = 1, 0

// sample is one round's value of one cell.
type sample struct {
	V      float64
	Others float64 // the part of a CPU other work took (NaN: not known)
	Run    string  // which run it came from, for the report
}

func (s sample) starved() bool { return s.Others > starvedAbove }

// results: metric key → column → one sample per round.
type results map[string]map[string][]sample

func (r results) add(key, col string, s sample) {
	if r[key] == nil {
		r[key] = map[string][]sample{}
	}
	r[key][col] = append(r[key][col], s)
}

// config is how a run was made, for the report.
type config struct {
	cmdline                string
	rounds, idleRounds     int
	dur, warmup, benchtime string
	idleConns              string
	pinned                 bool
	took                   time.Duration
	versions               string
}

func main() {
	quick := flag.Bool("quick", false, "one short round (about 2 minutes)")
	rounds := flag.Int("rounds", 5, "rounds")
	idleRounds := flag.Int("idle-rounds", 2, "rounds that also measure idle memory (it hardly varies and takes long)")
	out := flag.String("out", "RESULTS.md", "where to write the results")
	charts := flag.String("charts", "charts", "directory for the SVG charts")
	only := flag.String("servers", "", "comma-separated servers to run (default: all); for a run of the echo rows that matter")
	skipBench := flag.Bool("skip-bench", false, "skip the decoding and fragment benchmarks (their rows stay empty)")
	flag.Parse()
	if *only != "" {
		var keep []string
		for _, s := range strings.Split(*only, ",") {
			if !slices.Contains(servers, s) {
				log.Fatalf("no server %q in ./servers", s)
			}
			keep = append(keep, s)
		}
		servers = keep
	}
	c := config{rounds: *rounds, idleRounds: *idleRounds, dur: "1200ms", warmup: "400ms", benchtime: "200ms", idleConns: "2000,19000"}
	if *quick {
		c.rounds, c.idleRounds, c.dur, c.warmup, c.benchtime, c.idleConns = 1, 1, "700ms", "300ms", "60ms", "500,2000"
	}
	c.idleRounds = min(c.idleRounds, c.rounds)
	c.cmdline = "go -C bench run ./cmd/compare"
	if *quick {
		c.cmdline += " -quick"
	} else {
		if *rounds != 5 {
			c.cmdline += fmt.Sprintf(" -rounds %d", *rounds)
		}
		if *idleRounds != 2 {
			c.cmdline += fmt.Sprintf(" -idle-rounds %d", *idleRounds)
		}
	}
	if *only != "" {
		c.cmdline += " -servers " + *only
	}
	if *skipBench {
		c.cmdline += " -skip-bench"
	}
	if *out != "RESULTS.md" {
		c.cmdline += " -out " + *out
	}
	raiseFileLimit()
	_, err := exec.LookPath("taskset")
	c.pinned = err == nil && runtime.NumCPU() >= 2
	start := time.Now()
	bin, err := os.MkdirTemp("", "wsfsm-compare")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	run("go", "build", "-o", filepath.Join(bin, "load"), "./cmd/load")
	for _, s := range servers {
		run("go", "build", "-o", filepath.Join(bin, s), "./servers/"+s)
	}
	benches := []string{"decode", "fragments"}
	if *skipBench {
		benches = nil
	}
	for _, t := range benches {
		run("go", "test", "-c", "-o", filepath.Join(bin, t+".test"), "./"+t)
	}
	c.versions = versions()

	res := results{}
	port := 19300
	for r := 0; r < c.rounds; r++ {
		log.Printf("round %d/%d: decoding and fragment benchmarks", r+1, c.rounds)
		for _, t := range benches {
			benchmarks(res, filepath.Join(bin, t+".test"), c)
		}
		order := append(servers[r%len(servers):], servers[:r%len(servers)]...)
		idleRound := idleRoundAt(r, c.rounds, c.idleRounds)
		for _, lib := range order {
			port++
			log.Printf("round %d/%d: %s", r+1, c.rounds, lib)
			echo(res, bin, lib, fmt.Sprintf("127.0.0.1:%d", port), c, idleRound)
		}
	}
	c.took = time.Since(start)
	if err := os.MkdirAll(*charts, 0o755); err != nil {
		log.Fatal(err)
	}
	report := writeReport(res, c, *charts)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(report)
}

// idleRoundAt reports whether round r (of n) measures idle memory: k of
// them, spread out (the first and the last but one of five for k=2).
func idleRoundAt(r, n, k int) bool {
	for i := 0; i < k; i++ {
		if r == i*n/k {
			return true
		}
	}
	return false
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %v: %v", name, args, err)
	}
}

// pin prefixes a command with taskset when pinning.
func pin(c config, cpu int, path string, args ...string) *exec.Cmd {
	if !c.pinned {
		return exec.Command(path, args...)
	}
	return exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), path}, args...)...)
}

func versions() string {
	out, err := exec.Command("go", append([]string{"list", "-m", "-f", "{{.Path}} {{.Version}}"}, peers...)...).Output()
	if err != nil {
		log.Fatalf("go list -m: %v", err)
	}
	var vs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			vs = append(vs, fmt.Sprintf("%s %s", f[0], f[1]))
		}
	}
	return strings.Join(vs, ", ")
}

// loadResult is what ./cmd/load prints with -json.
type loadResult struct {
	MsgsPerS        float64 `json:"msgs_per_s"`
	MBPerS          float64 `json:"mb_per_s"`
	P99us           float64 `json:"p99_us"`
	ServerCPUPerMsg float64 `json:"server_cpu_us_per_msg"`
	ServerCPUPerMB  float64 `json:"server_cpu_ms_per_mb"`
	ServerShare     float64 `json:"server_share"`
	ServerBusy      float64 `json:"server_busy"`
	ServerCPUOthers float64 `json:"server_cpu_others"`
	LoadCPUOthers   float64 `json:"load_cpu_others"`
	Idle            []struct {
		Conns       int     `json:"conns"`
		KiBConn     float64 `json:"kib_per_conn"`
		HeapKiBConn float64 `json:"heap_kib_per_conn"`
	} `json:"idle"`
}

// others is how much of the run's CPUs other work took: the larger of
// the server's and the load generator's pinned CPU; unpinned, the part of
// the time the server wanted a CPU that it waited.
func (r loadResult) others() float64 {
	if r.ServerCPUOthers >= 0 && r.LoadCPUOthers >= 0 {
		return math.Max(r.ServerCPUOthers, r.LoadCPUOthers)
	}
	if r.ServerShare > 0 {
		return 1 - r.ServerShare
	}
	return math.NaN()
}

// echo measures one library's server in one round: each load on one
// process, then idle memory on a fresh one.
func echo(res results, bin, lib, addr string, c config, idleRound bool) {
	srv := startServer(c, filepath.Join(bin, lib), addr)
	nan := loadResult{MsgsPerS: math.NaN(), MBPerS: math.NaN(), P99us: math.NaN(), ServerCPUPerMsg: math.NaN(), ServerCPUPerMB: math.NaN(), ServerCPUOthers: -1, LoadCPUOthers: -1}
	load := func(args ...string) loadResult {
		args = append([]string{"-addr", addr, "-json", "-pid", strconv.Itoa(srv.Process.Pid)}, args...)
		if c.pinned {
			args = append(args, "-server-cpu", strconv.Itoa(serverCPU), "-load-cpu", strconv.Itoa(loadCPU))
		}
		cmd := pin(c, loadCPU, filepath.Join(bin, "load"), args...)
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			log.Printf("%s %v: %v", lib, args, err)
			return nan
		}
		r := nan
		if err := json.Unmarshal(b, &r); err != nil {
			log.Printf("%s %v: %v", lib, args, err)
			return nan
		}
		return r
	}
	timing := []string{"-duration", c.dur, "-warmup", c.warmup}
	for _, l := range []struct {
		key  string
		args []string
	}{
		{"rtt1", []string{"-mode", "rtt", "-conns", "1", "-size", "128"}},
		{"rtt50", []string{"-mode", "rtt", "-conns", "50", "-size", "128"}},
		{"stream64k", []string{"-mode", "stream", "-size", "65536"}},
		{"stream1m", []string{"-mode", "stream", "-size", "1048576"}},
	} {
		r := load(append(l.args, timing...)...)
		s := func(v float64) sample { return sample{V: v, Others: r.others(), Run: l.key} }
		res.add("busy"+l.key, lib, s(r.ServerBusy))
		if strings.HasPrefix(l.key, "rtt") {
			res.add(l.key, lib, s(r.MsgsPerS))
			res.add(l.key+"p99", lib, s(r.P99us))
			res.add(l.key+"cpu", lib, s(r.ServerCPUPerMsg))
		} else {
			res.add(l.key, lib, s(r.MBPerS))
			res.add(l.key+"cpu", lib, s(r.ServerCPUPerMB))
		}
	}
	stopServer(srv)
	if !idleRound {
		return
	}
	// Memory per idle connection is measured on a fresh process: one that
	// ran the load above keeps the freed memory resident, and new
	// connections would reuse it without raising RSS.
	// wsfsm's servers also report their live heap after a collection
	// (bench/internal/heapstat): the process's own, without the slack
	// the collector leaves in the resident memory.
	heapFile := ""
	if strings.HasPrefix(lib, "wsfsm") {
		heapFile = filepath.Join(bin, lib+".heap")
		os.Setenv(heapstat.Env, heapFile)
		defer os.Unsetenv(heapstat.Env)
	}
	srv = startServer(c, filepath.Join(bin, lib), addr)
	args := []string{"-mode", "idle", "-conns", c.idleConns}
	if heapFile != "" {
		args = append(args, "-heapfile", heapFile)
	}
	r := load(args...)
	for i, n := range strings.Split(c.idleConns, ",") {
		v, h := math.NaN(), math.NaN()
		if i < len(r.Idle) {
			v = r.Idle[i].KiBConn
			if r.Idle[i].HeapKiBConn > 0 {
				h = r.Idle[i].HeapKiBConn
			}
		}
		res.add("idle"+strconv.Itoa(i), lib, sample{V: v, Others: math.NaN(), Run: "idle " + n})
		if heapFile != "" {
			res.add("idleheap"+strconv.Itoa(i), lib, sample{V: h, Others: math.NaN(), Run: "idle " + n})
		}
	}
	stopServer(srv)
}

// startServer starts an echo server binary on addr and waits until it
// listens.
func startServer(c config, path, addr string) *exec.Cmd {
	srv := pin(c, serverCPU, path, "-addr", addr)
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

// benchmarks runs a test binary's benchmarks once (one round) and adds
// what they report.
func benchmarks(res results, testBin string, c config) {
	cmd := pin(c, serverCPU, testBin, "-test.run", "^$", "-test.bench", ".", "-test.benchtime", c.benchtime)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s: %v\n%s", testBin, err, b)
	}
	parseBenchmarks(res, string(b))
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBenchmarks reads go test -bench output: BenchmarkGroup/column/...
// lines become samples of the rows benchRows maps them to.
func parseBenchmarks(res results, out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := strings.Split(m[1], "/")
		if len(name) < 3 {
			continue
		}
		f := strings.Fields(m[2])
		units := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				units[f[i+1]] = v
			}
		}
		others := math.NaN()
		if w, ok := units["waited-%"]; ok {
			others = w / 100
		}
		col := name[1]
		for key, v := range benchRows(name, units) {
			res.add(key, col, sample{V: v, Others: others, Run: "bench"})
		}
	}
}

// benchRows maps one benchmark's figures to the rows they belong to.
func benchRows(name []string, u map[string]float64) map[string]float64 {
	// CPU time per op where the benchmark reported it (procstat.Watch):
	// waiting for a CPU inflates ns/op, not the CPU time.
	cpu, ok := u["cpu-ns/op"]
	if !ok {
		cpu = u["ns/op"]
	}
	switch name[0] {
	case "Decode": // Decode/lib/size/readN
		return map[string]float64{"decode" + name[2] + name[3]: cpu}
	case "InPlace": // InPlace/wsfsm/size/inplace
		return map[string]float64{"inplace" + name[2]: cpu}
	case "Memory": // Memory/lib/1MiB/memory
		key := "mask"
		if name[1] == "memmove" {
			key = "memmove"
		}
		return map[string]float64{key: (1 << 20) / cpu}
	case "Assemble": // Assemble/lib/fragment
		return map[string]float64{
			"frag" + name[2]:           u["ns/op"] / 1e6,
			"frag" + name[2] + "cpu":   cpu / 1e6,
			"frag" + name[2] + "alloc": u["allocs/op"],
			"frag" + name[2] + "bytes": u["B/op"] / (1 << 20),
			"frag" + name[2] + "gc":    u["gc/op"],
		}
	}
	return nil
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
