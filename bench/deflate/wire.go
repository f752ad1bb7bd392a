package deflatebench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
)

// CountConn counts the bytes a client connection reads and writes (the
// bytes on the wire, handshake included) and, while recording, keeps a
// copy of what it reads and writes.
type CountConn struct {
	net.Conn
	In, Out atomic.Int64

	mu        sync.Mutex
	recording bool
	rec, wrec bytes.Buffer
}

func (c *CountConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.In.Add(int64(n))
	if n > 0 {
		c.mu.Lock()
		if c.recording {
			c.rec.Write(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *CountConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.Out.Add(int64(n))
	if n > 0 {
		c.mu.Lock()
		if c.recording {
			c.wrec.Write(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// Record starts recording (true) or stops it and returns what was read and
// written since it started.
func (c *CountConn) Record(on bool) (in, out []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.rec.Reset()
		c.wrec.Reset()
	}
	c.recording = on
	return bytes.Clone(c.rec.Bytes()), bytes.Clone(c.wrec.Bytes())
}

// DialCounting dials addr over loopback TCP and wraps the connection.
func DialCounting(addr string) (*CountConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &CountConn{Conn: nc}, nil
}

// CPU returns the process's user+system CPU time (getrusage), which covers
// both ends of a connection, the runtime and the GC.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// EchoServer serves h on a loopback listener over HTTP/1.1.
type EchoServer struct {
	URL string
	ln  net.Listener
	srv *http.Server
}

func NewEchoServer(h http.Handler) (*EchoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &EchoServer{URL: "ws://" + ln.Addr().String() + "/", ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *EchoServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting; hijacked connections end when their clients close.
func (s *EchoServer) Close() { s.srv.Close() }

// Tape is what a library's server sent during one echo pass over a corpus,
// recorded at the client: the 101 response and the frames after it.
type Tape struct {
	Response []byte // the 101 head, Sec-WebSocket-Accept to be replaced
	Stream   []byte // server-to-client frames of the pass
	UpStream []byte // client-to-server frames of the pass
	Up, Down int64  // bytes client-to-server and server-to-client, frames only
	Raw      int64  // payload bytes of the pass, one way
	Messages int
}

// ReplayServer answers any WebSocket handshake with a recorded 101 head
// (its accept key recomputed) and then either sends a recorded stream
// (inflate benchmarks) or nothing; it reads and drops whatever the client
// sends (compress benchmarks).
type ReplayServer struct {
	ln     net.Listener
	resp   []byte
	stream []byte
	wg     sync.WaitGroup
}

func NewReplayServer(resp, stream []byte) (*ReplayServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &ReplayServer{ln: ln, resp: resp, stream: stream}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	return s, nil
}

func (s *ReplayServer) Addr() string { return s.ln.Addr().String() }
func (s *ReplayServer) URL() string  { return "ws://" + s.Addr() + "/" }

func (s *ReplayServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *ReplayServer) serve(c net.Conn) {
	br := bufio.NewReader(c)
	key := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
	}
	resp, err := withAccept(s.resp, handshake.AcceptKey(key))
	if err != nil {
		return
	}
	if _, err := c.Write(resp); err != nil {
		return
	}
	if len(s.stream) > 0 {
		go func() { c.Write(s.stream) }()
	}
	io.Copy(io.Discard, br)
}

// withAccept replaces the Sec-WebSocket-Accept field of a recorded 101 head.
func withAccept(head []byte, accept string) ([]byte, error) {
	lines := strings.Split(string(head), "\r\n")
	found := false
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Sec-WebSocket-Accept") {
			lines[i] = "Sec-WebSocket-Accept: " + accept
			found = true
		}
	}
	if !found {
		return nil, errors.New("recorded response has no Sec-WebSocket-Accept")
	}
	return []byte(strings.Join(lines, "\r\n")), nil
}

// ExtensionsOf returns the Sec-WebSocket-Extensions value(s) of a response head.
func ExtensionsOf(head []byte) string {
	var vals []string
	for _, l := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Sec-WebSocket-Extensions") {
			vals = append(vals, strings.TrimSpace(v))
		}
	}
	return strings.Join(vals, ", ")
}
