// Package hubbench measures broadcast: one publisher to many WebSocket
// subscribers on one node, wsfsm's hub against a gorilla/websocket hub
// written as gorilla's chat example writes it (a hub goroutine with
// register/unregister/broadcast channels, a 256-slot send channel and a
// write pump per client that packs queued messages into one frame with
// newlines). Both serve the same clients (wsfsm's own, one goroutine each,
// in this process) over loopback.
//
//	go -C bench test -run '^$' -bench Broadcast -benchtime 5x ./hub
//
// Each op publishes a burst of 10 messages and waits until every
// subscriber has all 10. Reported: deliveries/s, the time from a message's
// publication to its arrival at the last subscriber (p50, p99 over every
// message of the run), and the process's memory (heap and goroutine
// stacks) per subscriber once all are connected (client and server sides:
// the clients are the same for both, so the difference is the server's).
package hubbench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
)

func TestMain(m *testing.M) {
	// 10,000 subscribers are 20,000 descriptors in this process (both
	// ends): raise the limit where allowed (see largest).
	lim := syscall.Rlimit{Cur: 25000, Max: 25000}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		var cur syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur)
		fmt.Fprintf(os.Stderr, "hubbench: open-file limit %d (raising it: %v): at most %d subscribers\n", cur.Cur, err, largest())
	}
	os.Exit(m.Run())
}

const burst = 10

// broadcaster is a server under test.
type broadcaster interface {
	publish(msg []byte)
	subscribers() int
}

// --- wsfsm: the hub

type wsfsmServer struct{ h *hub.Hub }

func newWsfsm(b *testing.B) (*wsfsmServer, http.Handler) {
	return newWsfsmWith(b, hub.CloseSlow, 0)
}

// newWsfsmWith: the hub with policy p; sndbuf, when set, is every
// connection's kernel send buffer.
func newWsfsmWith(b *testing.B, p hub.Policy, sndbuf int) (*wsfsmServer, http.Handler) {
	h, err := hub.New(hub.Options{QueueSize: 256, Policy: p})
	if err != nil {
		b.Fatal(err)
	}
	s := &wsfsmServer{h: h}
	return s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, &server.Options{Logf: func(string, ...any) {}})
		if err != nil {
			return
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok && sndbuf > 0 {
			tc.SetWriteBuffer(sndbuf)
		}
		sub, err := h.NewSubscriber(c)
		if err != nil {
			c.CloseNow()
			return
		}
		sub.Subscribe("b")
		// The read loop on a goroutine of its own, as gorilla's example
		// does: the handler's goroutine, whose stack net/http has grown,
		// ends.
		go server.ServeConn(c, server.Funcs{Close: func(*wsconn.Conn, error) { sub.Close() }})
	})
}

func (s *wsfsmServer) publish(msg []byte) { s.h.Publish("b", hub.Message{Data: msg}) }
func (s *wsfsmServer) subscribers() int   { return int(s.h.Stats().Subscribers) }

// --- gorilla: the chat example's hub

type gClient struct {
	hub  *gHub
	conn *websocket.Conn
	send chan []byte
}

type gHub struct {
	clients    map[*gClient]bool
	broadcast  chan []byte
	register   chan *gClient
	unregister chan *gClient
	n          atomic.Int64
}

func (h *gHub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			h.n.Add(1)
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
				h.n.Add(-1)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
					h.n.Add(-1)
				}
			}
		}
	}
}

func (c *gClient) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(512)
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *gClient) writePump() {
	defer c.conn.Close()
	for message := range c.send {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		w, err := c.conn.NextWriter(websocket.TextMessage)
		if err != nil {
			return
		}
		w.Write(message)
		// As the chat example: queued messages go in the same frame.
		n := len(c.send)
		for range n {
			w.Write([]byte{'\n'})
			w.Write(<-c.send)
		}
		if err := w.Close(); err != nil {
			return
		}
	}
	c.conn.WriteMessage(websocket.CloseMessage, []byte{})
}

func newGorilla() (*gHub, http.Handler) {
	h := &gHub{clients: map[*gClient]bool{}, broadcast: make(chan []byte), register: make(chan *gClient), unregister: make(chan *gClient)}
	go h.run()
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	return h, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &gClient{hub: h, conn: conn, send: make(chan []byte, 256)}
		h.register <- c
		go c.writePump()
		go c.readPump()
	})
}

func (h *gHub) publish(msg []byte) { h.broadcast <- msg }
func (h *gHub) subscribers() int   { return int(h.n.Load()) }

// --- the clients and the measurement

// tracker records, per message sequence number, how many subscribers have
// it and when the last one got it.
type tracker struct {
	subs    int64
	count   []atomic.Int64
	last    []atomic.Int64 // unix nanos
	done    chan int       // sequence numbers complete
	badMsgs atomic.Int64
}

func (t *tracker) got(seq int, now int64) {
	if seq < 0 || seq >= len(t.count) {
		t.badMsgs.Add(1)
		return
	}
	for {
		old := t.last[seq].Load()
		if now <= old || t.last[seq].CompareAndSwap(old, now) {
			break
		}
	}
	if t.count[seq].Add(1) == t.subs {
		t.done <- seq
	}
}

// message is "seq" padded with spaces to 64 bytes, the size of a chat line.
func message(seq int) []byte {
	b := strconv.AppendInt(nil, int64(seq), 10)
	return append(b, bytes.Repeat([]byte{' '}, 64-len(b))...)
}

func runBroadcast(b *testing.B, subs int, srv broadcaster, h http.Handler) {
	runBroadcastSlow(b, subs, 0, srv, h)
}

// runBroadcastSlow adds slow subscribers: a 4 KiB receive buffer, and they
// never read. They are not waited for.
func runBroadcastSlow(b *testing.B, subs, slow int, srv broadcaster, h http.Handler) {
	ts := httptest.NewServer(h)
	defer ts.Close()
	url := "ws" + ts.URL[len("http"):] + "/"
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	total := b.N * burst
	tr := &tracker{subs: int64(subs), count: make([]atomic.Int64, total), last: make([]atomic.Int64, total), done: make(chan int, total)}
	conns := make([]*wsconn.Conn, 0, subs)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}()
	dialer := &net.Dialer{}
	for range subs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := wsconn.Dial(ctx, url, &wsconn.DialOptions{Dialer: dialer})
		cancel()
		if err != nil {
			b.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				for line := range bytes.SplitSeq(data, []byte{'\n'}) {
					seq, err := strconv.Atoi(string(bytes.TrimRight(line, " ")))
					if err != nil {
						tr.badMsgs.Add(1)
						continue
					}
					tr.got(seq, now)
				}
			}
		}()
	}
	slowDialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	for range slow {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := wsconn.Dial(ctx, url, &wsconn.DialOptions{Dialer: slowDialer})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c) // closed at the end, never read
	}
	for deadline := time.Now().Add(30 * time.Second); srv.subscribers() < subs+slow; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscribers registered", srv.subscribers(), subs)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	published := make([]int64, total)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for j := range burst {
			seq := i*burst + j
			published[seq] = time.Now().UnixNano()
			srv.publish(message(seq))
		}
		for range burst {
			select {
			case <-tr.done:
			case <-time.After(30 * time.Second):
				b.Fatalf("a burst not delivered to all %d subscribers in 30 s (%d left)", subs, srv.subscribers())
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := tr.badMsgs.Load(); n > 0 {
		b.Fatalf("%d malformed messages", n)
	}
	lat := make([]float64, total)
	for i := range total {
		lat[i] = float64(tr.last[i].Load()-published[i]) / 1e6
	}
	slices.Sort(lat)
	b.ReportMetric(float64(subs*total)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-ms")
	// Heap and goroutine stacks: a design with more goroutines per
	// connection pays in stacks, which HeapInuse does not count.
	mem := func(m *runtime.MemStats) int64 { return int64(m.HeapInuse + m.StackInuse) }
	b.ReportMetric(float64(mem(&after)-mem(&before))/float64(subs), "mem-B/sub")
	b.ReportMetric(0, "ns/op")
}

// largest is 10,000 subscribers, or as many as the open-file limit allows
// (each takes two descriptors here, one per end; an unprivileged process
// cannot raise its hard limit).
func largest() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000
	}
	return min(10000, (int(lim.Cur)-500)/2/100*100)
}

// BenchmarkSlowSubscriber: 1,000 subscribers that read, with and without
// one that never reads (4 KiB receive buffer, 4 KiB server send buffer for
// everyone, DropOldest so that it stays subscribed). Isolation means the
// same deliveries/s and latency for the others.
//
//	go -C bench test -run '^$' -bench SlowSubscriber -benchtime 50x ./hub
func BenchmarkSlowSubscriber(b *testing.B) {
	for _, slow := range []int{0, 1, 0, 1, 0, 1} { // interleaved: the machine's load drifts
		b.Run(fmt.Sprintf("slow=%d", slow), func(b *testing.B) {
			s, h := newWsfsmWith(b, hub.DropOldest, 4096)
			defer s.h.Close()
			runBroadcastSlow(b, 1000, slow, s, h)
			if slow > 0 {
				b.ReportMetric(float64(s.h.Stats().Dropped), "dropped")
			}
		})
	}
}

func BenchmarkBroadcast(b *testing.B) {
	for _, subs := range []int{1000, largest()} {
		b.Run(fmt.Sprintf("subs=%d/lib=wsfsm", subs), func(b *testing.B) {
			s, h := newWsfsm(b)
			defer s.h.Close()
			runBroadcast(b, subs, s, h)
		})
		b.Run(fmt.Sprintf("subs=%d/lib=gorilla", subs), func(b *testing.B) {
			s, h := newGorilla()
			runBroadcast(b, subs, s, h)
		})
	}
}

// The benchmark's own check, cheap enough for `go test`: both servers
// deliver every message of a burst to 50 subscribers.
func TestBroadcastHarness(t *testing.T) {
	for name, mk := range map[string]func(b *testing.B) (broadcaster, http.Handler){
		"wsfsm":   func(b *testing.B) (broadcaster, http.Handler) { s, h := newWsfsm(b); return s, h },
		"gorilla": func(*testing.B) (broadcaster, http.Handler) { s, h := newGorilla(); return s, h },
	} {
		r := testing.Benchmark(func(b *testing.B) {
			s, h := mk(b)
			runBroadcast(b, 50, s, h)
		})
		if r.N == 0 || r.Extra["deliveries/s"] <= 0 {
			t.Errorf("%s: %+v", name, r)
		}
	}
}
