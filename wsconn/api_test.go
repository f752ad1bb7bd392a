package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// The ping, pong and close hooks see what arrives, with the payloads, on
// the reader; the automatic replies go out as without them.
func TestHooksObserve(t *testing.T) {
	type seen struct {
		kind string
		data string
		code wsframe.CloseCode
	}
	var mu sync.Mutex
	var got []seen
	note := func(s seen) { mu.Lock(); got = append(got, s); mu.Unlock() }
	srvOpts := wsconn.Options{
		OnPing:  func(c *wsconn.Conn, p []byte) { note(seen{kind: "ping", data: string(p)}) },
		OnClose: func(c *wsconn.Conn, code wsframe.CloseCode, r []byte) { note(seen{"close", string(r), code}) },
	}
	s := startServer(t, server.Options{Conn: srvOpts})
	pongs := make(chan string, 4)
	c := dial(t, s.url, &wsconn.DialOptions{Options: wsconn.Options{
		OnPong: func(c *wsconn.Conn, p []byte) { pongs <- string(p) },
	}})
	go c.Run(func(wsframe.Opcode, []byte) {})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatalf("the server did not answer the ping (its hook must not replace the reply): %v", err)
	}
	if p := <-pongs; p != "are you there" {
		t.Errorf("pong hook got %q", p)
	}
	if err := c.Close(wsframe.CloseNormal, "bye"); err != nil {
		t.Fatal(err)
	}
	<-s.closed
	mu.Lock()
	defer mu.Unlock()
	want := []seen{{"ping", "are you there", 0}, {"close", "bye", wsframe.CloseNormal}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("hooks saw %+v, want %+v", got, want)
	}
}

// SetReadLimit applies from the next frame: a message that fitted the old
// limit but not the new one ends the connection with 1009.
func TestSetReadLimit(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	big := bytes.Repeat([]byte("x"), 1000)
	if err := c.WriteMessage(wsframe.OpBinary, big); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || len(p) != len(big) {
		t.Fatalf("before the limit: %d bytes, %v", len(p), err)
	}
	c.SetReadLimit(100)
	if err := c.WriteMessage(wsframe.OpBinary, big[:100]); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || len(p) != 100 {
		t.Fatalf("at the limit: %d bytes, %v", len(p), err)
	}
	c.WriteMessage(wsframe.OpBinary, big[:101])
	_, _, err := c.ReadMessage()
	if code, _ := wsframe.CodeOf(err); code != wsframe.CloseTooBig {
		t.Fatalf("over the new limit: %v, want 1009", err)
	}
}

// A client with keepalive drops a server that stops answering, and reads
// say why.
func TestClientKeepalive(t *testing.T) {
	url := hostileServer(t, func(nc net.Conn) {
		time.Sleep(2 * time.Second) // reads nothing, answers nothing
	})
	c := dial(t, url, &wsconn.DialOptions{Options: wsconn.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}})
	start := time.Now()
	_, _, err := c.ReadMessage()
	var ce *wsconn.CloseError
	if !errors.Is(err, wsconn.ErrPingTimeout) || !errors.As(err, &ce) || ce.Code != wsframe.CloseAbnormal {
		t.Fatalf("read ended with %v, want the ping timeout and 1006", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v to give up on the peer", d)
	}
}

// NextWriter waits for a message being written at most the write timeout,
// or until its context is done; once the first one closes, the next goes.
func TestNextWriterBounded(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, &wsconn.DialOptions{Options: wsconn.Options{WriteTimeout: 100 * time.Millisecond}})
	w, err := c.NextWriter(wsframe.OpText)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "first ")
	if _, err := c.NextWriter(wsframe.OpText); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("second NextWriter: %v, want a deadline error", err)
	}
	if err := c.WriteMessage(wsframe.OpText, []byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("WriteMessage during a NextWriter: %v, want a deadline error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.NextWriterContext(ctx, wsframe.OpText); !errors.Is(err, context.Canceled) {
		t.Errorf("NextWriterContext with a done context: %v", err)
	}
	io.WriteString(w, "message")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "first message" {
		t.Fatalf("echo %q, %v", p, err)
	}
	w2, err := c.NextWriter(wsframe.OpText)
	if err != nil {
		t.Fatalf("NextWriter after the first closed: %v", err)
	}
	w2.Close()
}

// DialOptions.Header is an http.Header; its fields reach the server.
func TestDialHeader(t *testing.T) {
	got := make(chan http.Header, 1)
	ts := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		c, err := server.Upgrade(w, r, nil)
		if err == nil {
			c.CloseNow()
		}
	}))
	h := http.Header{}
	h.Set("Authorization", "Bearer t0k3n")
	h.Add("X-Trace", "a")
	h.Add("X-Trace", "b")
	dial(t, "ws://"+ts+"/", &wsconn.DialOptions{Header: h})
	r := <-got
	if r.Get("Authorization") != "Bearer t0k3n" || len(r.Values("X-Trace")) != 2 || r.Values("X-Trace")[1] != "b" {
		t.Errorf("server saw %v", r)
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A refusal sent chunked carries the chunks' data, not their framing.
func TestDialRefusalChunked(t *testing.T) {
	addr := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "not on ")
		w.(http.Flusher).Flush() // no Content-Length: net/http sends it chunked
		io.WriteString(w, "this origin\n")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := wsconn.Dial(ctx, "ws://"+addr+"/", nil)
	var he *wsconn.HandshakeError
	if !errors.As(err, &he) || he.Status != 403 || string(he.Body) != "not on this origin\n" {
		t.Fatalf("error %v, body %q", err, bodyOf(he))
	}
	if got := err.Error(); got != "wsconn: handshake refused: 403 Forbidden: not on this origin" {
		t.Errorf("message %q", got)
	}
}

func bodyOf(he *wsconn.HandshakeError) []byte {
	if he == nil {
		return nil
	}
	return he.Body
}

// WrapConn sees the connection after TLS and before the handshake: here a
// wrapper that records every byte read, which starts with the 101.
func TestDialWrapConn(t *testing.T) {
	s := startServer(t, server.Options{})
	var rec *recordingConn
	c := dial(t, s.url, &wsconn.DialOptions{WrapConn: func(nc net.Conn) net.Conn {
		rec = &recordingConn{Conn: nc}
		return rec
	}})
	if err := c.WriteMessage(wsframe.OpText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "hello" {
		t.Fatalf("echo %q, %v", p, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !bytes.HasPrefix(rec.in, []byte("HTTP/1.1 101 ")) || !bytes.HasSuffix(rec.in, []byte("\x81\x05hello")) {
		t.Errorf("the wrapper read %q", rec.in)
	}
}

type recordingConn struct {
	net.Conn
	mu sync.Mutex
	in []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.in = append(r.in, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// The handler pattern of gorilla's users, `defer c.CloseNow()` after the
// read loop, keeps the close handshake whole: the client reads the
// server's reply to its Close, not 1006.
func TestCloseNowAfterPeerCloseKeepsTheReply(t *testing.T) {
	addr := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(op, p)
		}
	}))
	for i := range 20 {
		c := dial(t, "ws://"+addr+"/", nil)
		if err := c.CloseSend(wsframe.CloseNormal, "bye"); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadMessage()
		var ce *wsconn.CloseError
		if !errors.As(err, &ce) || ce.Code != wsframe.CloseNormal {
			t.Fatalf("round %d: the client read %v, want the server's 1000", i, err)
		}
	}
}

// Close says whether the close handshake completed: nil when the peer's
// Close came, ErrCloseTimeout when it did not come in time, 1006 when the
// peer dropped the connection instead.
func TestCloseReportsTheHandshake(t *testing.T) {
	s := startServer(t, server.Options{})
	if err := dial(t, s.url, nil).Close(wsframe.CloseNormal, ""); err != nil {
		t.Errorf("answered close: %v", err)
	}
	silent := hostileServer(t, func(nc net.Conn) { time.Sleep(time.Second) })
	c := dial(t, silent, &wsconn.DialOptions{Options: wsconn.Options{CloseTimeout: 100 * time.Millisecond}})
	if err := c.Close(wsframe.CloseNormal, ""); !errors.Is(err, wsconn.ErrCloseTimeout) {
		t.Errorf("unanswered close: %v, want ErrCloseTimeout", err)
	}
	dropper := hostileServer(t, func(nc net.Conn) {
		nc.Read(make([]byte, 64)) // the client's Close, then drop the connection
	})
	c = dial(t, dropper, nil)
	var ce *wsconn.CloseError
	if err := c.Close(wsframe.CloseNormal, ""); !errors.As(err, &ce) || ce.Code != wsframe.CloseAbnormal {
		t.Errorf("close the peer dropped: %v, want 1006", err)
	}
}
