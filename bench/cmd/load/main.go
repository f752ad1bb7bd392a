// Command load drives a WebSocket echo server with raw client frames on
// net.Conn (masked, as a client must), independent of any server library,
// and reports throughput and latency. Loopback only; every run is bounded
// in time.
//
//	rtt:    C connections each ping-pong S-byte binary messages for D:
//	        messages/s and p50/p99/p99.9 round-trip latency.
//	stream: one connection sends back-to-back S-byte messages and reads the
//	        echoes concurrently for D: MB/s echoed.
//	idle:   C connections opened and held (one message each, so that every
//	        server has set the connection up fully): the server's resident
//	        memory per connection, from /proc/PID/status. Source addresses
//	        rotate over 127.0.0.1-127.0.0.8 so that ports do not run short.
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
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

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
	KiBConn  float64 `json:"kib_per_conn"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "server address (loopback)")
	path := flag.String("path", "/", "request path")
	mode := flag.String("mode", "rtt", "rtt or stream")
	conns := flag.Int("conns", 1, "connections (rtt)")
	size := flag.Int("size", 128, "message size in bytes")
	dur := flag.Duration("duration", 5*time.Second, "how long to run (at most 5m)")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	pid := flag.Int("pid", 0, "server process (idle mode)")
	flag.Parse()
	if !strings.HasPrefix(*addr, "127.") && !strings.HasPrefix(*addr, "localhost") && !strings.HasPrefix(*addr, "[::1]") {
		log.Fatal("load: loopback addresses only")
	}
	if *dur > 5*time.Minute {
		*dur = 5 * time.Minute
	}
	var r result
	var err error
	switch *mode {
	case "rtt":
		r, err = rtt(*addr, *path, *conns, *size, *dur)
	case "stream":
		r, err = stream(*addr, *path, *size, *dur)
	case "idle":
		r, err = idle(*addr, *path, *conns, *pid)
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
		fmt.Printf("idle conns=%d: %.1f KiB of server memory per connection\n", r.Conns, r.KiBConn)
		return
	}
	fmt.Printf("%s conns=%d size=%d: %d messages in %.1fs = %.0f msg/s, %.1f MB/s; latency p50 %.0fµs p99 %.0fµs p99.9 %.0fµs\n",
		r.Mode, r.Conns, r.Size, r.Messages, r.Seconds, r.MsgsPerS, r.MBPerS, r.P50us, r.P99us, r.P999us)
}

// conn is a client connection speaking raw frames.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	parser *wsframe.Parser
	buf    []byte
	rest   []byte // read but not parsed yet
}

func dial(addr, path string) (*conn, error) { return dialFrom(nil, addr, path) }

func dialFrom(local net.Addr, addr, path string) (*conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(key[:]))
	br := bufio.NewReaderSize(nc, 64<<10)
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
	return &conn{nc: nc, br: br, parser: wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient, MaxPayload: 1 << 30}), buf: make([]byte, 64<<10)}, nil
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
			if ev.Kind == wsframe.EventNone {
				break
			}
			if ev.Kind == wsframe.EventPayload {
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

func rtt(addr, path string, conns, size int, dur time.Duration) (result, error) {
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
	start := time.Now()
	stop := start.Add(dur)
	var firstErr error
	for _, c := range cs {
		wg.Add(1)
		go func(c *conn) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(stop) {
				t0 := time.Now()
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
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	elapsed := time.Since(start).Seconds()
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	n := len(all)
	return result{Mode: "rtt", Conns: conns, Size: size, Seconds: elapsed, Messages: n, MsgsPerS: float64(n) / elapsed,
		MBPerS: float64(n*size) / elapsed / 1e6, P50us: pct(0.50), P99us: pct(0.99), P999us: pct(0.999)}, nil
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

func idle(addr, path string, n, pid int) (result, error) {
	if pid == 0 {
		return result{}, fmt.Errorf("idle needs -pid, the server's process id")
	}
	raiseFileLimit()
	time.Sleep(300 * time.Millisecond)
	before, err := rssKiB(pid)
	if err != nil {
		return result{}, err
	}
	msg := frame(16)
	cs := make([]*conn, 0, n)
	defer func() {
		for _, c := range cs {
			c.nc.Close()
		}
	}()
	for i := 0; i < n; i++ {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}
		c, err := dialFrom(local, addr, path)
		if err != nil {
			return result{}, fmt.Errorf("connection %d: %w", i, err)
		}
		cs = append(cs, c)
		c.nc.Write(msg)
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.readMessage(); err != nil {
			return result{}, fmt.Errorf("connection %d: %w", i, err)
		}
		c.buf, c.rest = nil, nil // the client's memory is not measured; keep it small anyway
	}
	time.Sleep(time.Second)
	after, err := rssKiB(pid)
	if err != nil {
		return result{}, err
	}
	return result{Mode: "idle", Conns: n, KiBConn: (after - before) / float64(n)}, nil
}

func stream(addr, path string, size int, dur time.Duration) (result, error) {
	c, err := dial(addr, path)
	if err != nil {
		return result{}, err
	}
	defer c.nc.Close()
	msg := frame(size)
	start := time.Now()
	stop := start.Add(dur)
	sent := 0
	done := make(chan error, 1)
	go func() {
		for time.Now().Before(stop) {
			if _, err := c.nc.Write(msg); err != nil {
				done <- err
				return
			}
			sent++
		}
		done <- nil
	}()
	received := 0
	for {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.readMessage()
		if err != nil {
			if err == io.EOF {
				break
			}
			return result{}, err
		}
		if n == size {
			received++
		}
		if time.Now().After(stop) {
			break
		}
	}
	if err := <-done; err != nil {
		return result{}, err
	}
	elapsed := time.Since(start).Seconds()
	return result{Mode: "stream", Conns: 1, Size: size, Seconds: elapsed, Messages: received,
		MsgsPerS: float64(received) / elapsed, MBPerS: float64(received*size) / elapsed / 1e6}, nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
