package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm"
	"github.com/wsfsm/wsfsm/wsframe"
)

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, h *Hub) (string, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	h.Logf = logs.logf
	srv := httptest.NewServer(h.Handler())
	hubs.Store(srv.URL, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL, logs
}

// hubs maps a test server's URL to its Hub.
var hubs sync.Map

// page connects like a browser and returns once the server counts the page
// as connected (subscribed to the room): a dial returns when the handshake
// response arrives, which is a moment before.
func page(t *testing.T, base string) *wsfsm.Conn {
	t.Helper()
	return pageWith(t, base, &wsfsm.DialOptions{Origin: base})
}

func pageWith(t *testing.T, base string, o *wsfsm.DialOptions) *wsfsm.Conn {
	t.Helper()
	v, _ := hubs.Load(base)
	h := v.(*Hub)
	before := h.Clients()
	defer func() {
		deadline := time.Now().Add(5 * time.Second)
		for h.Clients() <= before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A browser sends its page's origin.
	c, err := wsfsm.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// slowPage is a page whose socket has a 4 KiB receive buffer from before
// the connection opens (set later, the window already offered stays).
func slowPage(t *testing.T, base string) *wsfsm.Conn {
	t.Helper()
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return pageWith(t, base, &wsfsm.DialOptions{Origin: base, Dialer: dialer})
}

func send(t *testing.T, c *wsfsm.Conn, m Message) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := c.WriteMessage(wsfsm.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *wsfsm.Conn) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, b, err := c.ReadMessageContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return m
}

func TestPageIsServed(t *testing.T) {
	base, _ := start(t, &Hub{})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(string(indexHTML), "innerHTML") || strings.Contains(string(indexHTML), "http://") || strings.Contains(string(indexHTML), "https://") {
		t.Error("the page uses innerHTML or loads something from elsewhere")
	}
}

func TestChatBetweenTwoPages(t *testing.T) {
	base, _ := start(t, &Hub{})
	alice, bob := page(t, base), page(t, base)
	send(t, alice, Message{Type: "hello", Name: "alice"})
	for _, c := range []*wsfsm.Conn{alice, bob} {
		if m := recv(t, c); m.Type != "join" || m.Name != "alice" || m.Time == "" {
			t.Fatalf("%+v", m)
		}
	}
	send(t, bob, Message{Type: "hello", Name: "bob"})
	recv(t, alice)
	recv(t, bob)
	send(t, alice, Message{Type: "chat", Text: "hi <script>alert(1)</script>"})
	for _, c := range []*wsfsm.Conn{alice, bob} {
		if m := recv(t, c); m.Type != "chat" || m.Name != "alice" || m.Text != "hi <script>alert(1)</script>" {
			t.Fatalf("%+v", m)
		}
	}
	bob.Close(wsfsm.CloseNormal, "")
	if m := recv(t, alice); m.Type != "leave" || m.Name != "bob" {
		t.Fatalf("%+v", m)
	}
}

// Refused messages get an error message and the connection stays.
func TestValidation(t *testing.T) {
	base, _ := start(t, &Hub{})
	c := page(t, base)
	for _, x := range []struct {
		m    Message
		want string
	}{
		{Message{Type: "chat", Text: "too early"}, "say hello"},
		{Message{Type: "hello"}, "needs a name"},
		{Message{Type: "hello", Name: strings.Repeat("n", 33)}, "longer than 32"},
		{Message{Type: "shout", Text: "x"}, "unknown message type"},
		{Message{Type: "join", Name: "x"}, "unknown message type"},
	} {
		send(t, c, x.m)
		if m := recv(t, c); m.Type != "error" || !strings.Contains(m.Text, x.want) {
			t.Errorf("%+v: got %+v", x.m, m)
		}
	}
	send(t, c, Message{Type: "hello", Name: "carol"})
	recv(t, c)
	for _, x := range []struct {
		m    Message
		want string
	}{
		{Message{Type: "chat"}, "needs a text"},
		{Message{Type: "chat", Text: strings.Repeat("é", 1001)}, "longer than 1000"},
		{Message{Type: "hello", Name: "again"}, "already"},
	} {
		send(t, c, x.m)
		if m := recv(t, c); m.Type != "error" || !strings.Contains(m.Text, x.want) {
			t.Errorf("%+v: got %+v", x.m, m)
		}
	}
	send(t, c, Message{Type: "chat", Text: strings.Repeat("é", 1000)})
	if m := recv(t, c); m.Type != "chat" {
		t.Errorf("1000 characters: %+v", m)
	}
}

func closeCode(t *testing.T, c *wsfsm.Conn) wsfsm.CloseCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.ReadMessageContext(ctx)
		var ce *wsfsm.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestClosingMessages(t *testing.T) {
	base, _ := start(t, &Hub{})
	c := page(t, base)
	c.WriteMessage(wsfsm.TextMessage, []byte("{not json"))
	if code := closeCode(t, c); code != wsfsm.CloseInvalidPayload {
		t.Errorf("invalid JSON: %v", code)
	}
	c = page(t, base)
	c.WriteMessage(wsfsm.BinaryMessage, []byte("{}"))
	if code := closeCode(t, c); code != wsframe.CloseUnsupportedData {
		t.Errorf("binary: %v", code)
	}
}

func TestForeignOriginRefused(t *testing.T) {
	base, _ := start(t, &Hub{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := wsfsm.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsfsm.DialOptions{Origin: "http://evil.example"})
	var he *wsfsm.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Fatalf("%v", err)
	}
}

func TestShutdownSends1001(t *testing.T) {
	h := &Hub{}
	base, _ := start(t, h)
	c := page(t, base)
	send(t, c, Message{Type: "hello", Name: "dave"})
	recv(t, c)
	done := make(chan wsfsm.CloseCode, 1)
	go func() { done <- closeCode(t, c) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != wsfsm.CloseGoingAway {
		t.Errorf("%v", code)
	}
}

// A page that stops reading falls behind and is closed; the others go on.
func TestSlowPageDoesNotStallOthers(t *testing.T) {
	h := &Hub{QueueSize: 4, SendBuffer: 4096}
	base, logs := start(t, h)
	fast := page(t, base)
	send(t, fast, Message{Type: "hello", Name: "fast"})
	recv(t, fast)
	// The slow page: a tiny receive buffer, and it never reads.
	slowPage(t, base)
	recvd := 0
	text := strings.Repeat("x", 1000)
	for i := 0; i < 400 && !strings.Contains(logs.String(), "behind"); i++ {
		send(t, fast, Message{Type: "chat", Text: text})
		recv(t, fast) // the fast page gets every message, promptly
		recvd++
	}
	if !strings.Contains(logs.String(), "closing it (1008)") {
		t.Fatalf("slow page never closed after %d messages; log:\n%s", recvd, logs)
	}
	// The page that never reads gets EvictTimeout (2 s) to take the write
	// in progress and its Close, then it is dropped.
	deadline := time.Now().Add(10 * time.Second)
	for h.Clients() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.Clients() != 1 {
		t.Errorf("%d clients left", h.Clients())
	}
}

// A page that reads slowly is evicted, and still gets its 1008 Close: the
// Close goes out after the message being written, not instead of it.
func TestSlowPageGetsItsClose(t *testing.T) {
	h := &Hub{QueueSize: 4, SendBuffer: 4096}
	base, logs := start(t, h)
	fast := page(t, base)
	send(t, fast, Message{Type: "hello", Name: "fast"})
	recv(t, fast)
	slow := slowPage(t, base)
	text := strings.Repeat("x", 1000)
	for i := 0; i < 400 && !strings.Contains(logs.String(), "behind"); i++ {
		send(t, fast, Message{Type: "chat", Text: text})
		recv(t, fast)
	}
	if !strings.Contains(logs.String(), "closing it (1008)") {
		t.Fatalf("slow page never evicted; log:\n%s", logs)
	}
	// Now the slow page reads: what was in flight, then the Close.
	if code := closeCode(t, slow); code != wsfsm.ClosePolicyViolation {
		t.Fatalf("the slow page saw %v, want 1008", code)
	}
	if st := h.Stats(); st.Evicted != 1 || st.WriteErrors != 0 {
		t.Errorf("%+v", st)
	}
}

// Many pages joining at once, all reading: every join goes to every page,
// far more than a page's queue holds, yet no page is evicted, because
// presence notices coalesce; every page ends up with the last one. (The
// demo's 10,000-page case, scaled to a test: 200 pages with queues of 2.)
func TestManyJoinsEvictNoReader(t *testing.T) {
	const pages = 200
	h := &Hub{QueueSize: 2}
	base, logs := start(t, h)
	conns := make([]*wsfsm.Conn, pages)
	for i := range conns {
		conns[i] = page(t, base)
	}
	var wg sync.WaitGroup
	errs := make(chan error, pages)
	last := make([]Message, pages) // each written by its page's goroutine only
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(Message{Type: "hello", Name: fmt.Sprintf("p%d", i)})
			if err := c.WriteMessage(wsfsm.TextMessage, b); err != nil {
				errs <- err
				return
			}
			// Read to the end marker; keep the last presence notice.
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, data, err := c.ReadMessageContext(ctx)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("page %d: %w", i, err)
					return
				}
				var m Message
				json.Unmarshal(data, &m)
				if m.Type == "chat" && m.Text == "end" {
					return
				}
				last[i] = m
			}
		}()
	}
	// Once every join has been delivered to every page's queue (each
	// delivery is queued, coalesced or dropped), a chat message marks the
	// end: each queue holds it after whatever presence notice is left.
	delivered := func() int64 { st := h.Stats(); return st.Queued + st.Coalesced + st.Dropped }
	for deadline := time.Now().Add(30 * time.Second); delivered() < pages*pages; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 8<<20)
			os.WriteFile("/tmp/joins-stacks.txt", buf[:runtime.Stack(buf, true)], 0o644)
			t.Fatalf("%d of %d join deliveries; %+v", delivered(), pages*pages, h.Stats())
		}
	}
	send(t, conns[0], Message{Type: "chat", Text: "end"})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := h.Stats()
	if st.Evicted != 0 || h.Clients() != pages {
		t.Fatalf("%d evicted, %d of %d pages left; %+v", st.Evicted, h.Clients(), pages, st)
	}
	if st.Coalesced == 0 {
		t.Errorf("no presence notice was coalesced (%+v): the test did not load the queues", st)
	}
	// The last notice published reached everyone.
	for i := range last {
		if last[i] != last[0] || last[i].Type != "join" {
			t.Fatalf("page %d's last message %+v, page 0's %+v", i, last[i], last[0])
		}
	}
	t.Logf("%d joins to %d pages: %d written, %d coalesced; log %d bytes", pages, pages, st.Written, st.Coalesced, len(logs.String()))
}

// Ten thousand slow-page lines make a handful of log lines.
func TestRateLog(t *testing.T) {
	logs := &logBuf{}
	r := NewRateLog(logs.logf, time.Hour, 5)
	for i := range 10000 {
		r.Printf("page %d is slow", i)
	}
	r.Flush()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 6 || lines[4] != "page 4 is slow" || !strings.Contains(lines[5], "9995 more") {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	// After the window, lines pass again.
	r = NewRateLog(logs.logf, 10*time.Millisecond, 1)
	r.Printf("a")
	r.Printf("b")
	time.Sleep(20 * time.Millisecond)
	r.Printf("c")
	if got := logs.String(); !strings.HasSuffix(got, "a\nchat: 1 more such lines in 10ms not logged\nc\n") {
		t.Errorf("%q", got)
	}
}
