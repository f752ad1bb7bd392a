package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL, logs
}

func page(t *testing.T, base string) *wsconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A browser sends its page's origin.
	c, err := wsconn.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsconn.DialOptions{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func send(t *testing.T, c *wsconn.Conn, m Message) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := c.WriteMessage(wsframe.OpText, b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *wsconn.Conn) Message {
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
	for _, c := range []*wsconn.Conn{alice, bob} {
		if m := recv(t, c); m.Type != "join" || m.Name != "alice" || m.Time == "" {
			t.Fatalf("%+v", m)
		}
	}
	send(t, bob, Message{Type: "hello", Name: "bob"})
	recv(t, alice)
	recv(t, bob)
	send(t, alice, Message{Type: "chat", Text: "hi <script>alert(1)</script>"})
	for _, c := range []*wsconn.Conn{alice, bob} {
		if m := recv(t, c); m.Type != "chat" || m.Name != "alice" || m.Text != "hi <script>alert(1)</script>" {
			t.Fatalf("%+v", m)
		}
	}
	bob.Close(wsframe.CloseNormal, "")
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

func closeCode(t *testing.T, c *wsconn.Conn) wsframe.CloseCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.ReadMessageContext(ctx)
		var ce *wsconn.CloseError
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
	c.WriteMessage(wsframe.OpText, []byte("{not json"))
	if code := closeCode(t, c); code != wsframe.CloseInvalidPayload {
		t.Errorf("invalid JSON: %v", code)
	}
	c = page(t, base)
	c.WriteMessage(wsframe.OpBinary, []byte("{}"))
	if code := closeCode(t, c); code != wsframe.CloseUnsupportedData {
		t.Errorf("binary: %v", code)
	}
}

func TestForeignOriginRefused(t *testing.T) {
	base, _ := start(t, &Hub{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := wsconn.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsconn.DialOptions{Origin: "http://evil.example"})
	if !errors.Is(err, handshake.ErrStatus) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("%v", err)
	}
}

func TestShutdownSends1001(t *testing.T) {
	h := &Hub{}
	base, _ := start(t, h)
	c := page(t, base)
	send(t, c, Message{Type: "hello", Name: "dave"})
	recv(t, c)
	done := make(chan wsframe.CloseCode, 1)
	go func() { done <- closeCode(t, c) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != wsframe.CloseGoingAway {
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dialer := &net.Dialer{Control: nil}
	slow, err := wsconn.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsconn.DialOptions{Origin: base, Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	slow.NetConn().(*net.TCPConn).SetReadBuffer(4096)
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
	deadline := time.Now().Add(3 * time.Second)
	for h.Clients() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.Clients() != 1 {
		t.Errorf("%d clients left", h.Clients())
	}
}
