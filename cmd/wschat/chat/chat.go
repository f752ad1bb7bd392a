// Package chat is wsfsm's hello-world demo: a page embedded in the binary
// that opens a WebSocket to /ws, and a server that relays JSON chat messages
// to every connected page. cmd/wschat runs it.
//
// # Protocol
//
// Every message is one JSON object in a text message:
//
//	{"type": "hello"|"chat"|"join"|"leave"|"error", "name": "...", "text": "...", "time": "..."}
//
// A page sends:
//   - {"type":"hello","name":N}: takes the name N (1-32 characters); the
//     server answers every page with {"type":"join","name":N,"time":T}.
//   - {"type":"chat","text":X}: after a hello; X is 1-1000 characters. The
//     server sends every page {"type":"chat","name":N,"text":X,"time":T}.
//
// The server sends {"type":"leave","name":N,"time":T} when a named page goes,
// and {"type":"error","text":why} to a page whose message it refused: an
// unknown type, a missing or too long field, a chat before the hello. The
// connection stays open after an error message.
//
// What ends a connection: a message that is not JSON (close 1007, invalid
// payload: the text is not what the type promised), a binary message (close
// 1003, unsupported data), a page that falls more than 64 messages behind
// (close 1008, with a log line), and server shutdown (close 1001). Only
// pages of the server's own origin may connect (others get 403).
package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

//go:embed static/index.html
var indexHTML []byte

// Message is the protocol's one message shape.
type Message struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Text string `json:"text,omitempty"`
	Time string `json:"time,omitempty"`
}

// Limits of the protocol.
const (
	MaxName          = 32
	MaxText          = 1000
	DefaultQueueSize = 64
	maxMessage       = 16 << 10 // bytes of JSON
)

// Hub relays messages between the connected pages.
type Hub struct {
	// QueueSize bounds each page's queue of messages to send; a page that
	// falls this far behind is closed with 1008. 0: DefaultQueueSize.
	QueueSize int
	// SendBuffer, when set, is the kernel send buffer of each connection
	// (tests make it small to show a slow page).
	SendBuffer int
	// Logf logs slow pages and refused upgrades.
	Logf func(format string, args ...any)

	mu       sync.Mutex
	clients  map[*client]struct{}
	closing  bool
	sessions sync.WaitGroup
}

type client struct {
	c    *wsconn.Conn
	name string // set by hello; read and written on the connection's read loop
	send chan []byte
	stop sync.Once
}

func (h *Hub) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// Handler serves the page at / and the WebSocket at /ws.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		w.Write(indexHTML)
	})
	mux.HandleFunc("GET /ws", h.serveWS)
	return mux
}

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	closing := h.closing
	if !closing {
		h.sessions.Add(1)
	}
	h.mu.Unlock()
	if closing {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.sessions.Done()
	opts := &server.Options{Conn: wsconn.Options{MaxMessageSize: maxMessage}, PingInterval: 30 * time.Second}
	c, err := server.Upgrade(w, r, opts) // same-origin check by default
	if err != nil {
		h.logf("chat: refused %s: %v", r.RemoteAddr, err)
		return
	}
	if h.SendBuffer > 0 {
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			tc.SetWriteBuffer(h.SendBuffer)
		}
	}
	size := h.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	cl := &client{c: c, send: make(chan []byte, size)}
	h.mu.Lock()
	if h.clients == nil {
		h.clients = map[*client]struct{}{}
	}
	h.clients[cl] = struct{}{}
	h.mu.Unlock()
	go cl.writeLoop()
	server.Serve(c, server.Funcs{
		Message: func(_ *wsconn.Conn, op wsframe.Opcode, data []byte) { h.receive(cl, op, data) },
		Close:   func(*wsconn.Conn, error) { h.leave(cl) },
	})
}

// writeLoop sends the page's queue; a write that takes over 10 s ends it.
func (cl *client) writeLoop() {
	for msg := range cl.send {
		cl.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := cl.c.WriteMessage(wsframe.OpText, msg); err != nil {
			cl.c.CloseNow()
			for range cl.send {
			}
			return
		}
	}
}

func (cl *client) stopSending() { cl.stop.Do(func() { close(cl.send) }) }

func (h *Hub) receive(cl *client, op wsframe.Opcode, data []byte) {
	if op != wsframe.OpText {
		cl.c.Close(wsframe.CloseUnsupportedData, "binary messages are not supported")
		return
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		cl.c.Close(wsframe.CloseInvalidPayload, "invalid JSON")
		return
	}
	now := time.Now().UTC().Format(time.RFC3339)
	switch m.Type {
	case "hello":
		name := strings.TrimSpace(m.Name)
		switch {
		case name == "":
			h.reply(cl, "hello needs a name")
		case utf8.RuneCountInString(name) > MaxName:
			h.reply(cl, "name longer than 32 characters")
		case cl.name != "":
			h.reply(cl, "you already said hello")
		default:
			cl.name = name
			h.broadcast(Message{Type: "join", Name: name, Time: now})
		}
	case "chat":
		switch {
		case cl.name == "":
			h.reply(cl, "say hello with your name first")
		case strings.TrimSpace(m.Text) == "":
			h.reply(cl, "chat needs a text")
		case utf8.RuneCountInString(m.Text) > MaxText:
			h.reply(cl, "text longer than 1000 characters")
		default:
			h.broadcast(Message{Type: "chat", Name: cl.name, Text: m.Text, Time: now})
		}
	default:
		h.reply(cl, "unknown message type "+strconvQuote(m.Type))
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (h *Hub) reply(cl *client, why string) {
	b, _ := json.Marshal(Message{Type: "error", Text: why})
	h.enqueue(cl, b)
}

func (h *Hub) broadcast(m Message) {
	b, _ := json.Marshal(m)
	h.mu.Lock()
	targets := make([]*client, 0, len(h.clients))
	for cl := range h.clients {
		targets = append(targets, cl)
	}
	h.mu.Unlock()
	for _, cl := range targets {
		h.enqueue(cl, b)
	}
}

// enqueue queues b for cl without ever waiting: a page whose queue is full
// is too slow, and is closed rather than allowed to stall the others.
func (h *Hub) enqueue(cl *client, b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[cl]; !ok {
		return
	}
	select {
	case cl.send <- b:
	default:
		h.logf("chat: %s (%q) is %d messages behind: closing it (1008)", cl.c.RemoteAddr(), cl.name, cap(cl.send))
		delete(h.clients, cl)
		cl.stopSending()
		go cl.c.Close(wsframe.ClosePolicyViolation, "too slow")
	}
}

func (h *Hub) leave(cl *client) {
	h.mu.Lock()
	_, present := h.clients[cl]
	delete(h.clients, cl)
	h.mu.Unlock()
	cl.stopSending()
	if present && cl.name != "" {
		h.broadcast(Message{Type: "leave", Name: cl.name, Time: time.Now().UTC().Format(time.RFC3339)})
	}
}

// Clients is the number of connected pages.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Shutdown closes every page with 1001 (going away) and waits for the
// connections to end, or for ctx.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	targets := make([]*client, 0, len(h.clients))
	for cl := range h.clients {
		targets = append(targets, cl)
	}
	h.mu.Unlock()
	for _, cl := range targets {
		go cl.c.Close(wsframe.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, cl := range targets {
			cl.c.CloseNow()
		}
		return ctx.Err()
	}
}
