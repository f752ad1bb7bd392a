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
// 1003, unsupported data), a page that falls more than 64 chat messages
// behind (close 1008 once the message being written to it has gone out,
// with a log line), and server shutdown (close 1001). Only pages of the
// server's own origin may connect (others get 403).
//
// # Broadcast
//
// Messages go through a topic of a wsfsm.Hub, "room": each is framed once and
// queued for every page; each page has its own bounded queue and writer, so
// a slow page never delays the others. Joins and leaves are presence: they
// are coalesced (a page that is behind gets the latest presence notice in
// place of the ones it has not been sent yet), so thousands of pages
// joining at once evict no one that reads. Log lines about slow pages are
// rate-limited. With a Broker (see Hub.Broker), several chat servers share
// the room: the module github.com/wsfsm/wsfsm/natsbroker runs them over NATS.
package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wsfsm/wsfsm"
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

// Room is the hub topic the chat uses; presenceKey coalesces joins and
// leaves.
const (
	Room        = "room"
	presenceKey = "presence"
)

// Timeouts of a page's connection.
const (
	// writeTimeout bounds each message written to a page: a page that
	// takes longer to accept one is dropped.
	writeTimeout = 10 * time.Second
	// closeTimeout bounds the close handshake, the 1008 to a slow page and
	// the 1001 at shutdown included: best effort, short.
	closeTimeout = 2 * time.Second
)

// Hub relays messages between the connected pages. Its zero value serves a
// single chat server; set Broker to share the room with other servers.
type Hub struct {
	// QueueSize bounds each page's queue of messages to send; a page that
	// falls this far behind on chat messages is closed with 1008.
	// 0: DefaultQueueSize.
	QueueSize int
	// SendBuffer, when set, is the kernel send buffer of each connection
	// (tests make it small to show a slow page).
	SendBuffer int
	// Logf logs slow pages (rate-limited) and refused upgrades.
	Logf func(format string, args ...any)
	// Broker, when set, connects this server's room to the other servers'
	// (for example natsbroker's); nil: this server alone.
	Broker wsfsm.Broker
	// OnUpgrade, when set, sees the request of every page whose WebSocket
	// was accepted: r.ProtoMajor and r.Method tell an HTTP/1.1 upgrade
	// (GET) from an HTTP/2 extended CONNECT (RFC 8441).
	OnUpgrade func(r *http.Request)

	openOnce sync.Once
	openErr  error
	hub      *wsfsm.Hub
	slowLog  *RateLog

	mu       sync.Mutex
	clients  map[*client]struct{}
	closing  bool
	sessions sync.WaitGroup
}

type client struct {
	c    *wsfsm.Conn
	sub  *wsfsm.Subscriber
	name string // set by hello; read and written on the connection's read loop
}

func (h *Hub) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// Open creates the hub and connects it to the Broker. Handler opens it on
// first use; call Open first to see a broker's error.
func (h *Hub) Open() error {
	h.openOnce.Do(func() {
		size := h.QueueSize
		if size <= 0 {
			size = DefaultQueueSize
		}
		h.slowLog = NewRateLog(h.logf, time.Second, 5)
		h.hub, h.openErr = wsfsm.NewHub(wsfsm.HubOptions{
			QueueSize:    size,
			Policy:       wsfsm.PolicyCloseSlow,
			WriteTimeout: writeTimeout,
			Broker:       h.Broker,
			OnEvict: func(s *wsfsm.Subscriber, _ string) {
				c := s.Sink().(*wsfsm.Conn)
				h.slowLog.Printf("chat: %s is %d messages behind: closing it (1008)", c.RemoteAddr(), size)
			},
			OnDrop: func(s *wsfsm.Subscriber, err error) {
				c := s.Sink().(*wsfsm.Conn)
				h.slowLog.Printf("chat: %s dropped: %v", c.RemoteAddr(), err)
			},
		})
	})
	return h.openErr
}

// Stats are the counters of the chat's hub.
func (h *Hub) Stats() wsfsm.HubStats {
	if h.Open() != nil {
		return wsfsm.HubStats{}
	}
	return h.hub.Stats()
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
	mux.HandleFunc("CONNECT /ws", h.serveWS) // HTTP/2: RFC 8441 extended CONNECT
	return mux
}

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	if err := h.Open(); err != nil {
		http.Error(w, "chat unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
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
	served := false
	defer func() {
		if !served {
			h.sessions.Done()
		}
	}()
	opts := &wsfsm.ServerOptions{
		Conn: wsfsm.ConnOptions{MaxMessageSize: maxMessage, CloseTimeout: closeTimeout,
			PingInterval: 30 * time.Second},
		// Chat messages are small, similar JSON: context takeover both
		// ways is what makes compression pay (every browser offers it).
		Deflate: &wsfsm.DeflateConfig{},
	}
	c, err := wsfsm.Upgrade(w, r, opts) // same-origin check by default
	if err != nil {
		h.logf("chat: refused %s: %v", r.RemoteAddr, err)
		return
	}
	if h.OnUpgrade != nil {
		h.OnUpgrade(r)
	}
	if h.SendBuffer > 0 {
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			tc.SetWriteBuffer(h.SendBuffer)
		}
	}
	sub, err := h.hub.NewSubscriber(c, Room)
	if err != nil {
		c.Close(wsfsm.CloseGoingAway, "server shutting down")
		return
	}
	cl := &client{c: c, sub: sub}
	h.mu.Lock()
	if h.clients == nil {
		h.clients = map[*client]struct{}{}
	}
	h.clients[cl] = struct{}{}
	h.mu.Unlock()
	// The connection's read loop runs on a goroutine of its own and this
	// handler returns: net/http's goroutine has a stack grown by serving
	// the request, which a long-lived connection would keep (measured in
	// bench/hub: about 10 KiB per connection).
	// Over HTTP/2 the connection is a stream that lives while this handler
	// runs, so there the handler serves it itself.
	served = true
	serve := func() {
		defer h.sessions.Done()
		wsfsm.ServeConn(c, wsfsm.Funcs{
			Message: func(_ *wsfsm.Conn, op wsfsm.Opcode, data []byte) { h.receive(cl, op, data) },
			Close:   func(*wsfsm.Conn, error) { h.leave(cl) },
		})
	}
	if r.ProtoMajor == 2 {
		serve()
		return
	}
	go serve()
}

func (h *Hub) receive(cl *client, op wsfsm.Opcode, data []byte) {
	if op != wsfsm.TextMessage {
		cl.c.Close(wsfsm.CloseUnsupportedData, "binary messages are not supported")
		return
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		cl.c.Close(wsfsm.CloseInvalidPayload, "invalid JSON")
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
			h.presence(Message{Type: "join", Name: name, Time: now})
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
			h.broadcast(Message{Type: "chat", Name: cl.name, Text: m.Text, Time: now}, wsfsm.HubMessage{})
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
	cl.sub.Send(wsfsm.HubMessage{Data: b})
}

// presence publishes a join or leave: coalesced, so a page that is behind
// holds one presence notice at most.
func (h *Hub) presence(m Message) {
	h.broadcast(m, wsfsm.HubMessage{Policy: wsfsm.PolicyCoalesce, Key: presenceKey})
}

// broadcast publishes m in the room with pm.Policy and pm.Key (zero: the
// room's policy, CloseSlow).
func (h *Hub) broadcast(m Message, pm wsfsm.HubMessage) {
	pm.Data, _ = json.Marshal(m)
	if err := h.hub.Publish(Room, pm); err != nil && !errors.Is(err, wsfsm.ErrHubClosed) {
		h.slowLog.Printf("chat: publishing: %v", err)
	}
}

func (h *Hub) leave(cl *client) {
	cl.sub.Close()
	h.mu.Lock()
	_, present := h.clients[cl]
	delete(h.clients, cl)
	h.mu.Unlock()
	if present && cl.name != "" {
		h.presence(Message{Type: "leave", Name: cl.name, Time: time.Now().UTC().Format(time.RFC3339)})
	}
}

// Clients is the number of connected pages.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Shutdown closes every page with 1001 (going away) and waits for the
// connections to end, or for ctx; then it closes the hub and its broker.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	targets := make([]*client, 0, len(h.clients))
	for cl := range h.clients {
		targets = append(targets, cl)
	}
	h.mu.Unlock()
	for _, cl := range targets {
		// Nothing more is queued for the page; its Close goes out after
		// the message being written, if any.
		cl.sub.Close()
		go cl.c.Close(wsfsm.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.sessions.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		for _, cl := range targets {
			cl.c.CloseNow()
		}
		err = ctx.Err()
	}
	if h.Open() == nil {
		h.hub.Close()
		h.slowLog.Flush()
	}
	return err
}
