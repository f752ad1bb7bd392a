package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// The attacks a hostile peer can make on loopback, each bounded in
// connections and time: the server must hold memory by bytes received,
// drop peers that stop reading, and never hang.

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// waitFor polls cond until it holds or the bound passes (a hang detector,
// not a performance bound).
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Announce and stall: every connection sends a frame header announcing the
// largest message allowed, then one byte, and waits. The server's heap
// grows by a small constant per connection, not by the announced size.
func TestAttackAnnounceAndStall(t *testing.T) {
	const conns = 200
	s := startEcho(t, Options{})
	before := heapInUse()
	header := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: wsconn.DefaultMaxMessageSize, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	for range conns {
		nc := dialRaw(t, s)
		nc.SetDeadline(time.Time{})
		if _, err := nc.Write(append(header, 0xAA)); err != nil {
			t.Fatal(err)
		}
	}
	// Every byte sent has reached its connection's message buffer once the
	// server has read for a moment; the heap is then measured.
	time.Sleep(300 * time.Millisecond)
	after := heapInUse()
	per := (int64(after) - int64(before)) / conns
	t.Logf("heap per stalled connection: %d bytes (%d connections announcing %d bytes each)", per, conns, wsconn.DefaultMaxMessageSize)
	if per > 64<<10 {
		t.Errorf("each connection announcing %d bytes and sending 1 holds %d bytes of heap", wsconn.DefaultMaxMessageSize, per)
	}
	if s.Open() != conns {
		t.Errorf("%d connections open, want %d", s.Open(), conns)
	}
}

// A peer that never reads: the server's writes to it fail within the write
// timeout, and the connection is dropped.
func TestAttackNeverReadingPeer(t *testing.T) {
	writeErr := make(chan error, 1)
	s := startServer(t, &Server{
		Options: Options{Conn: wsconn.Options{WriteTimeout: 200 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}},
		Handler: Funcs{
			Open: func(c *wsconn.Conn) {
				go func() {
					chunk := make([]byte, 256<<10)
					for {
						if err := c.WriteMessage(wsframe.OpBinary, chunk); err != nil {
							writeErr <- err
							return
						}
					}
				}()
			},
		},
	})
	nc := dialRaw(t, s) // handshakes, then never reads
	nc.SetDeadline(time.Time{})
	select {
	case err := <-writeErr:
		// Goroutines: the write blocks until the write timeout. The event
		// loop never blocks a write: the queue passes its bound first.
		if onLoop && !errors.Is(err, ErrSlowConsumer) || !onLoop && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
			t.Errorf("write to a peer that never reads failed with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a peer that never reads did not end")
	}
	waitFor(t, 5*time.Second, "the stuck connection dropped", func() bool { return s.Open() == 0 })
}

// Close never waits on a stuck writer longer than the close timeout, and
// idle connections whose peer stops reading are dropped.
func TestAttackCloseWithStuckWriter(t *testing.T) {
	conns := make(chan *wsconn.Conn, 1)
	s := startServer(t, &Server{
		Options: Options{Conn: wsconn.Options{WriteTimeout: time.Minute, CloseTimeout: 200 * time.Millisecond}},
		Handler: Funcs{Open: func(c *wsconn.Conn) { conns <- c }},
	})
	nc := dialRaw(t, s)
	nc.SetDeadline(time.Time{})
	c := <-conns
	stuck := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for {
			if err := c.WriteMessage(wsframe.OpBinary, chunk); err != nil {
				stuck <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the socket buffers fill; the writer blocks
	closed := make(chan error, 1)
	go func() { closed <- c.Close(wsframe.CloseGoingAway, "bye") }()
	select {
	case err := <-closed:
		// Goroutines: Close cannot get the write lock in time. The event
		// loop: the writer failed at the queue's bound already (a slow
		// consumer, 1008), and Close finds the Close sent.
		if !onLoop && !errors.Is(err, wsconn.ErrCloseTimeout) || onLoop && err != nil && !errors.Is(err, wsconn.ErrClosed) {
			t.Errorf("Close behind a stuck writer: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs behind a writer blocked by a peer that does not read")
	}
	select {
	case <-stuck:
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck writer was not released by Close")
	}
}

// An idle timeout drops a peer that neither reads nor sends, even while a
// write to it is blocked.
func TestAttackIdleTimeoutDropsNonReader(t *testing.T) {
	s := startServer(t, &Server{
		Options: Options{Conn: wsconn.Options{IdleTimeout: 200 * time.Millisecond, WriteTimeout: time.Minute, CloseTimeout: 200 * time.Millisecond}},
		Handler: Funcs{Open: func(c *wsconn.Conn) {
			go func() {
				chunk := make([]byte, 1<<20)
				for c.WriteMessage(wsframe.OpBinary, chunk) == nil {
				}
			}()
		}},
	})
	nc := dialRaw(t, s)
	nc.SetDeadline(time.Time{})
	waitFor(t, 5*time.Second, "the non-reading idle peer dropped", func() bool { return s.Open() == 0 })
}

// A ping flood from peers that never read: the server queues a bounded
// number of Pongs per connection (the latest replaces the rest, RFC 6455
// §5.5.3), keeps its memory flat, keeps serving others, and still shuts
// down in bounded time.
func TestAttackPingFloodWithoutReading(t *testing.T) {
	const conns = 8
	s := startEcho(t, Options{Conn: wsconn.Options{WriteTimeout: 300 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}})
	before := heapInUse()
	ping := wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Masked: true, Mask: [4]byte{9, 8, 7, 6}}, bytes.Repeat([]byte("p"), 125))
	flood := bytes.Repeat(ping, 512) // 66 KiB of pings per write
	var wg sync.WaitGroup
	for range conns {
		nc := dialSmallWindow(t, s)
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 { // 3.3 MB of pings, never reading
				if _, err := nc.Write(flood); err != nil {
					return
				}
			}
		}()
	}
	var peak uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sample := time.NewTicker(20 * time.Millisecond)
	defer sample.Stop()
	bound := time.After(15 * time.Second)
	for flooding := true; flooding; {
		select {
		case <-done:
			flooding = false
		case <-sample.C:
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		case <-bound:
			t.Fatal("the ping flood did not end")
		}
	}
	// Another client is served meanwhile.
	healthy := dialRaw(t, s)
	healthy.Write(text("still served").bytes())
	if got := readReply(t, healthy, 500*time.Millisecond); !strings.HasPrefix(got, "text fin=true \"still served\"\n") {
		t.Errorf("a healthy client after the flood got %q", got)
	}
	per := (int64(peak) - int64(before)) / conns
	t.Logf("peak heap per flooding connection: %d bytes", per)
	if per > 256<<10 {
		t.Errorf("a ping flood without reading costs %d bytes of heap per connection", per)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown with flooding peers: %v", err)
	}
}

// dialSmallWindow is dialRaw with a small receive buffer from the start, so
// that a peer that does not read fills the server's send path quickly.
func dialSmallWindow(t *testing.T, s *Server) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, requestHead, s.Addr())
	head := make([]byte, len(switchingProtocols))
	if _, err := io.ReadFull(nc, head); err != nil || string(head) != switchingProtocols {
		t.Fatalf("handshake answer %q, %v", head, err)
	}
	return nc
}

// Slowloris on the handshake: connections that send their request head a
// byte at a time get 408 at the handshake timeout and are dropped.
func TestAttackSlowlorisHandshake(t *testing.T) {
	const conns = 100
	s := startServer(t, &Server{HandshakeTimeout: 300 * time.Millisecond})
	head := fmt.Sprintf(requestHead, s.Addr())
	results := make(chan string, conns)
	for range conns {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		go func() {
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			for i := 0; i < len(head); i++ {
				if _, err := nc.Write([]byte{head[i]}); err != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			resp, _ := io.ReadAll(nc)
			results <- string(resp)
		}()
	}
	for range conns {
		select {
		case resp := <-results:
			if !strings.HasPrefix(resp, "HTTP/1.1 408 ") {
				t.Fatalf("slow handshake answered %q", resp)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow handshakes were not dropped")
		}
	}
	waitFor(t, 5*time.Second, "slow handshakes dropped", func() bool { return s.Open() == 0 })
}

// Upgrade honours every option: keepalive drops a peer that does not
// answer pings, with nobody calling ServeConn.
func TestUpgradeRunsKeepalive(t *testing.T) {
	ended := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &Options{Conn: wsconn.Options{PingInterval: 50 * time.Millisecond}})
		if err != nil {
			return
		}
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					close(ended)
					return
				}
			}
		}()
	}))
	defer srv.Close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, requestHead, srv.Listener.Addr())
	select { // the client never reads, so never answers a ping
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("keepalive did not drop a silent peer on an upgraded connection")
	}
}

// Shutdown racing new connections: Add and Wait of the server's WaitGroup
// never race (run under -race).
func TestShutdownWhileAccepting(t *testing.T) {
	for range 300 {
		s := &Server{Options: Options{Logf: func(string, ...any) {}}, Handler: Funcs{}}
		onRuntime(s)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err == nil {
					fmt.Fprintf(nc, requestHead, ln.Addr())
					nc.Close()
				}
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		wg.Wait()
	}
}

// Lingering close: a client sends a burst, then its Close (or a frame that
// breaks a rule) and more bytes, reading nothing until it is done writing.
// Closing a socket with unread input would make the server's kernel reset
// the connection and destroy the echoes waiting in the client's receive
// buffer; the server half-closes and drains instead, so every echo and the
// Close arrive.
func TestLingeringCloseKeepsEchoes(t *testing.T) {
	for _, end := range []struct {
		name  string
		frame frame
		close string
	}{
		{"close handshake", closeFrame(1000, ""), "close 1000 \"\""},
		{"protocol error", frame{op: 0x3, fin: true, data: "reserved opcode"}, "close 1002 \"\""},
	} {
		t.Run(end.name, func(t *testing.T) {
			s := startEcho(t, Options{})
			nc := dialRaw(t, s)
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			const msgs = 64
			var burst []byte
			for i := range msgs {
				burst = append(burst, binary_(strings.Repeat(string(rune('a'+i%26)), 1000)).bytes()...)
			}
			burst = append(burst, end.frame.bytes()...)
			if _, err := nc.Write(burst); err != nil {
				t.Fatal(err)
			}
			// Bytes after the end, which the server ignores; some arrive
			// after it has finished its side.
			for i := 0; i < 20; i++ {
				if _, err := nc.Write(bytes.Repeat([]byte{0x55}, 4096)); err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			got := readReply(t, nc, 5*time.Second)
			if n := strings.Count(got, "binary fin=true"); n != msgs || !strings.HasSuffix(got, end.close+"\nEOF\n") {
				t.Fatalf("%d of %d echoes, ending %q", n, msgs, got[max(0, len(got)-80):])
			}
		})
	}
}

// Clients that send the whole request head and reset the connection at
// once (the 101 cannot be written) leave nothing behind: no connection
// counted against MaxConns (a remote client could otherwise lock everyone
// out), no descriptor, and no OnClose for a connection the handler never
// saw open. A client that comes after is served.
func TestAttackHeadThenReset(t *testing.T) {
	var opened, closed atomic.Int64
	s := startServer(t, &Server{MaxConns: 20, Handler: Funcs{
		Open:    func(*wsconn.Conn) { opened.Add(1) },
		Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) },
		Close:   func(*wsconn.Conn, error) { closed.Add(1) },
	}})
	fds := openFDs(t)
	head := fmt.Sprintf(requestHead, s.Addr())
	for range 200 {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte(head))
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	}
	if got := settle(0, s.Open); got != 0 {
		t.Fatalf("%d reset connections still counted as open", got)
	}
	if got := settle(fds, func() int { return openFDs(t) }); got > fds {
		t.Errorf("file descriptors: %d before, %d after", fds, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "ws://"+s.Addr().String()+"/", nil)
	if err != nil {
		t.Fatalf("a client after the resets: %v", err)
	}
	c.WriteMessage(wsframe.OpText, []byte("still served"))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "still served" {
		t.Fatalf("echo %q, %v", p, err)
	}
	c.Close(wsframe.CloseNormal, "")
	if settle(0, func() int { return int(opened.Load() - closed.Load()) }); closed.Load() != opened.Load() {
		t.Errorf("OnOpen %d times, OnClose %d times", opened.Load(), closed.Load())
	}
}
