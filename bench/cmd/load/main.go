// Command load drives a WebSocket echo server with raw client frames on
// net.Conn (masked, as a client must), independent of any server library,
// and reports throughput and latency. Loopback only; every run is bounded
// in time.
//
//	rtt:    C connections each ping-pong S-byte binary messages for D:
//	        messages/s and p50/p99/p99.9 round-trip latency.
//	stream: one connection sends S-byte messages and reads the echoes
//	        concurrently for D, at most W messages in flight (a message
//	        leaves once the echo of the one W before it is back): MB/s echoed.
//	idle:   connections opened and held (one message each, so that every
//	        server has set the connection up fully), the server's resident
//	        memory per connection (from /proc/PID/status) measured at each
//	        count of -conns (e.g. 2000,19000). Source addresses rotate over
//	        127.0.0.1-127.0.0.8 so that ports do not run short.
//
// rtt and stream run for a warm-up (-warmup) before the measured window.
// Given the server's process (-pid), they also report what the scheduler
// says about the window (/proc/PID/task/*/schedstat): the CPU time the
// server used per message and per MB, and the part of the time it wanted a
// CPU that it got (its share; the same for this load generator), so that a
// starved run can be told from a slow server.
//
//	go run ./cmd/load -addr 127.0.0.1:9001 -mode rtt -conns 50 -size 128 -duration 10s
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/bench/internal/procstat"
	"github.com/wsfsm/wsfsm/wsframe"
)

type result struct {
	Mode     string  `json:"mode"`
	Conns    int     `json:"conns"`
	Size     int     `json:"size"`
	Seconds  float64 `json:"seconds"`
	Messages int     `json:"messages"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	// The measured window as the scheduler saw it (with -pid).
	ServerCPUus    float64 `json:"server_cpu_us,omitempty"`         // server CPU time
	ServerCPUPerMs float64 `json:"server_cpu_us_per_msg,omitempty"` // µs of server CPU per message
	ServerCPUPerMB float64 `json:"server_cpu_ms_per_mb,omitempty"`  // ms of server CPU per MB echoed
	ServerShare    float64 `json:"server_share,omitempty"`          // CPU got / CPU wanted
	ServerBusy     float64 `json:"server_busy,omitempty"`           // CPU time / wall time
	LoadShare      float64 `json:"load_share,omitempty"`            // the same for this process
	// With -server-cpu/-load-cpu (both pinned): the part of each pinned
	// CPU's time that other work took in the window (-1: not pinned).
	ServerCPUOthers float64 `json:"server_cpu_others"`
	LoadCPUOthers   float64 `json:"load_cpu_others"`
	// idle: memory per connection at each count.
	Idle []idleAt `json:"idle,omitempty"`
}

type idleAt struct {
	Conns   int     `json:"conns"`
	KiBConn float64 `json:"kib_per_conn"`
	// HeapKiBConn is the server's live heap (after a collection) per
	// connection, when the server answers -heapfile (0: not measured).
	HeapKiBConn float64 `json:"heap_kib_per_conn,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "server address (loopback)")
	path := flag.String("path", "/", "request path")
	mode := flag.String("mode", "rtt", "rtt, stream or idle")
	connList := flag.String("conns", "1", "connections (rtt); for idle, the counts at which to measure, e.g. 2000,19000")
	size := flag.Int("size", 128, "message size in bytes")
	dur := flag.Duration("duration", 5*time.Second, "how long to measure (at most 5m)")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "traffic before the measured window")
	inFlight := flag.Int("window", 8, "stream: messages in flight at most")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	pid := flag.Int("pid", 0, "server process: its memory (idle, required) and CPU (rtt, stream)")
	heapFile := flag.String("heapfile", "", "idle: also ask the server for its live heap (SIGUSR1; it writes the file, see bench/internal/heapstat)")
	serverCPU := flag.Int("server-cpu", -1, "the CPU the server is pinned to, if it is: how much of it other work took")
	loadCPU := flag.Int("load-cpu", -1, "the CPU this process is pinned to, if it is")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*connList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("load: -conns %q", *connList)
		}
		counts = append(counts, n)
	}
	if !strings.HasPrefix(*addr, "127.") && !strings.HasPrefix(*addr, "localhost") && !strings.HasPrefix(*addr, "[::1]") {
		log.Fatal("load: loopback addresses only")
	}
	if *dur > 5*time.Minute {
		*dur = 5 * time.Minute
	}
	var r result
	var err error
	w := &window{pid: *pid, warmup: *warmup, dur: *dur, serverCPU: *serverCPU, loadCPU: *loadCPU}
	switch *mode {
	case "rtt":
		r, err = rtt(*addr, *path, counts[0], *size, w)
	case "stream":
		r, err = stream(*addr, *path, *size, *inFlight, w)
	case "idle":
		r, err = idle(*addr, *path, counts, *pid, *heapFile)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	if r.Mode == "idle" {
		for _, i := range r.Idle {
			fmt.Printf("idle conns=%d: %.2f KiB of server memory per connection", i.Conns, i.KiBConn)
			if i.HeapKiBConn > 0 {
				fmt.Printf(", %.2f KiB of live heap", i.HeapKiBConn)
			}
			fmt.Println()
		}
		return
	}
	fmt.Printf("%s conns=%d size=%d: %d messages in %.1fs = %.0f msg/s, %.1f MB/s; latency p50 %.0fµs p99 %.0fµs p99.9 %.0fµs\n",
		r.Mode, r.Conns, r.Size, r.Messages, r.Seconds, r.MsgsPerS, r.MBPerS, r.P50us, r.P99us, r.P999us)
	if r.ServerCPUus > 0 {
		fmt.Printf("server CPU %.2f µs/msg, %.2f ms/MB; server busy %.0f%% of the window, got %.0f%% of the CPU it wanted; load generator got %.0f%%\n",
			r.ServerCPUPerMs, r.ServerCPUPerMB, 100*r.ServerBusy, 100*r.ServerShare, 100*r.LoadShare)
	}
	if r.ServerCPUOthers >= 0 {
		fmt.Printf("other work took %.0f%% of the server's CPU and %.0f%% of the load generator's\n", 100*r.ServerCPUOthers, 100*r.LoadCPUOthers)
	}
}

// window is the measured part of a run: after the warm-up, for dur; it
// samples the scheduler's account of the server and of this process at
// both ends.
type window struct {
	pid         int
	warmup, dur time.Duration
	start, stop time.Time

	serverCPU, loadCPU int // pinned CPUs, or -1

	srv0, self0 procstat.Sample
	srv, self   procstat.Times
	cpus0, cpus procstat.CPUTimes
}

// begin is called when traffic starts: it sets the window's bounds.
func (w *window) begin(now time.Time) {
	w.start = now.Add(w.warmup)
	w.stop = w.start.Add(w.dur)
}

// in reports whether a message that completed at t counts.
func (w *window) in(t time.Time) bool { return !t.Before(w.start) && !t.After(w.stop) }

// sample sleeps to the window's start, samples, sleeps to its end, and
// samples again.
func (w *window) sample() {
	time.Sleep(time.Until(w.start))
	if w.pid != 0 {
		w.srv0, _ = procstat.Read(w.pid)
	}
	w.self0, _ = procstat.Read(0)
	w.cpus0, _ = procstat.ReadCPUs()
	time.Sleep(time.Until(w.stop))
	w.cpus, _ = procstat.ReadCPUs()
	if w.pid != 0 {
		if s, err := procstat.Read(w.pid); err == nil && w.srv0 != nil {
			w.srv = s.Since(w.srv0)
		}
	}
	if s, err := procstat.Read(0); err == nil && w.self0 != nil {
		w.self = s.Since(w.self0)
	}
}

// fill completes r with the window's figures.
func (w *window) fill(r *result) {
	r.Seconds = w.dur.Seconds()
	r.MsgsPerS = float64(r.Messages) / r.Seconds
	r.MBPerS = float64(r.Messages) * float64(r.Size) / r.Seconds / 1e6
	if w.srv.CPU > 0 && r.Messages > 0 {
		us := float64(w.srv.CPU) / 1e3
		r.ServerCPUus = us
		r.ServerCPUPerMs = us / float64(r.Messages)
		r.ServerCPUPerMB = us / 1e3 / (float64(r.Messages) * float64(r.Size) / 1e6)
		r.ServerShare = w.srv.Share()
		r.ServerBusy = float64(w.srv.CPU) / float64(w.dur)
	}
	if s := w.self.Share(); s == s {
		r.LoadShare = s
	}
	r.ServerCPUOthers, r.LoadCPUOthers = -1, -1 // not pinned, or unknown
	if w.serverCPU >= 0 && w.cpus != nil && w.cpus0 != nil {
		if o := w.cpus.Others(w.cpus0, w.serverCPU, w.srv.CPU); o == o {
			r.ServerCPUOthers = o
		}
	}
	if w.loadCPU >= 0 && w.cpus != nil && w.cpus0 != nil {
		if o := w.cpus.Others(w.cpus0, w.loadCPU, w.self.CPU); o == o {
			r.LoadCPUOthers = o
		}
	}
}

// conn is a client connection speaking raw frames.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	parser *wsframe.Parser
	buf    []byte
	rest   []byte // read but not parsed yet
}

func dial(addr, path string) (*conn, error) { return dialFrom(nil, addr, path, 64<<10) }

// dialFrom connects from local (nil: any) and completes the handshake;
// bufSize sizes the client's read buffers.
func dialFrom(local net.Addr, addr, path string, bufSize int) (*conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(key[:]))
	br := bufio.NewReaderSize(nc, bufSize)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		nc.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	nc.SetReadDeadline(time.Time{})
	return &conn{nc: nc, br: br, parser: wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient, MaxPayload: 1 << 30}), buf: make([]byte, bufSize)}, nil
}

// readMessage reads one whole message and returns its size; bytes after
// it stay for the next call.
func (c *conn) readMessage() (int, error) {
	total := 0
	for {
		for {
			ev, k, perr := c.parser.Next(c.rest)
			if perr != nil {
				return total, perr
			}
			c.rest = c.rest[k:]
			if ev.Kind == wsframe.TokenNone {
				break
			}
			if ev.Kind == wsframe.TokenPayload {
				total += len(ev.Payload)
				if ev.End && ev.Header.Fin {
					return total, nil
				}
			}
		}
		n, err := c.br.Read(c.buf)
		if err != nil {
			return total, err
		}
		c.rest = c.buf[:n]
	}
}

func frame(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	return wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, p)
}

func rtt(addr, path string, conns, size int, w *window) (result, error) {
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(addr, path)
		if err != nil {
			return result{}, err
		}
		defer c.nc.Close()
		cs[i] = c
	}
	msg := frame(size)
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	var firstErr error
	w.begin(time.Now())
	for _, c := range cs {
		wg.Add(1)
		go func(c *conn) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for {
				t0 := time.Now()
				if t0.After(w.stop) {
					break
				}
				if _, err := c.nc.Write(msg); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.readMessage(); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				if t1 := time.Now(); w.in(t1) && !t0.Before(w.start) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}(c)
	}
	w.sample()
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	r := result{Mode: "rtt", Conns: conns, Size: size, Messages: len(all), P50us: pct(0.50), P99us: pct(0.99), P999us: pct(0.999)}
	w.fill(&r)
	return r, nil
}

// rssKiB reads VmRSS of a process.
func rssKiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kib float64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%f", &kib)
			return kib, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// serverHeap asks the server for its live heap (bench/internal/heapstat):
// it signals it and waits for the file it writes.
func serverHeap(pid int, file string) (int64, bool) {
	if file == "" {
		return 0, false
	}
	os.Remove(file)
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return 0, false
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil {
			v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// idle opens connections up to each count in turn and measures the
// server's resident memory per connection there: (RSS − RSS before the
// first) / count.
func idle(addr, path string, counts []int, pid int, heapFile string) (result, error) {
	if pid == 0 {
		return result{}, fmt.Errorf("idle needs -pid, the server's process id")
	}
	raiseFileLimit()
	time.Sleep(300 * time.Millisecond)
	before, err := rssKiB(pid)
	if err != nil {
		return result{}, err
	}
	heapBefore, heapOK := serverHeap(pid, heapFile)
	msg := frame(16)
	var mu sync.Mutex
	var cs []*conn
	defer func() {
		for _, c := range cs {
			c.nc.Close()
		}
	}()
	r := result{Mode: "idle"}
	for _, n := range counts {
		// Sixteen dialers at a time: the handshakes overlap, the count is
		// exact.
		next := make(chan int)
		errs := make(chan error, 16)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}
					c, err := dialFrom(local, addr, path, 512)
					if err == nil {
						mu.Lock()
						cs = append(cs, c)
						mu.Unlock()
						c.nc.Write(msg)
						c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
						_, err = c.readMessage()
						c.buf, c.rest, c.br = nil, nil, nil // the client's memory is not measured; keep it small anyway
					}
					if err != nil {
						errs <- fmt.Errorf("connection %d: %w", i, err)
						return
					}
				}
			}()
		}
		var err error
	feed:
		for i := len(cs); i < n; i++ {
			select {
			case next <- i:
			case err = <-errs:
				break feed
			}
		}
		close(next)
		wg.Wait()
		if err == nil && len(errs) > 0 {
			err = <-errs
		}
		if err != nil {
			return result{}, err
		}
		time.Sleep(500 * time.Millisecond) // let the server settle
		after, err := rssKiB(pid)
		if err != nil {
			return result{}, err
		}
		r.Conns = n
		at := idleAt{Conns: n, KiBConn: (after - before) / float64(n)}
		if heapOK {
			if h, ok := serverHeap(pid, heapFile); ok {
				at.HeapKiBConn = float64(h-heapBefore) / 1024 / float64(n)
			}
		}
		r.Idle = append(r.Idle, at)
	}
	return r, nil
}

// stream sends messages with at most inFlight of them unanswered, and
// counts the echoes that complete in the window.
func stream(addr, path string, size, inFlight int, w *window) (result, error) {
	c, err := dial(addr, path)
	if err != nil {
		return result{}, err
	}
	defer c.nc.Close()
	msg := frame(size)
	slots := make(chan struct{}, max(1, inFlight))
	quit := make(chan struct{})
	w.begin(time.Now())
	done := make(chan error, 1)
	go func() {
		for time.Now().Before(w.stop) {
			select {
			case slots <- struct{}{}:
			case <-quit:
				done <- nil
				return
			}
			if _, err := c.nc.Write(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	sampled := make(chan struct{})
	go func() { w.sample(); close(sampled) }()
	received := 0
	var readErr error
	for {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.readMessage()
		if err != nil {
			readErr = err
			break
		}
		t := time.Now()
		if n == size && w.in(t) {
			received++
		}
		<-slots
		if t.After(w.stop) {
			break
		}
	}
	// The writer may be blocked in Write (the server blocked writing to us
	// now that we stopped reading): a deadline in the past releases it,
	// and what fails after the window does not count.
	close(quit)
	c.nc.SetWriteDeadline(time.Now())
	<-sampled
	werr := <-done
	if readErr != nil {
		return result{}, readErr
	}
	if werr != nil && time.Now().Before(w.stop) {
		return result{}, werr
	}
	r := result{Mode: "stream", Conns: 1, Size: size, Messages: received}
	w.fill(&r)
	return r, nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
