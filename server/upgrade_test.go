package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Upgrade inside a net/http handler: same checks, same connection.
func TestUpgradeFromNetHTTP(t *testing.T) {
	handlerErr := make(chan error, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &Options{Protocols: []string{"chat"}})
		if err != nil {
			handlerErr <- err
			return
		}
		ServeConn(c, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, append([]byte("echo: "), data...))
		}})
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/chat"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, url, &wsconn.DialOptions{Protocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	c.WriteMessage(wsframe.OpText, []byte("hi"))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "echo: hi" {
		t.Fatalf("%q %v", got, err)
	}
	c.Close(wsframe.CloseNormal, "")

	// A plain GET gets the checklist's answer from the same checks.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: %d", resp.StatusCode)
	}
	select {
	case err := <-handlerErr:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("handler error %v", err)
		}
	case <-time.After(time.Second):
		t.Error("Upgrade did not report the rejection")
	}
}

func TestMaxConns(t *testing.T) {
	s := startServer(t, &Server{MaxConns: 1})
	nc := dialRaw(t, s)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := wsconn.Dial(ctx, "ws://"+s.Addr().String()+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("second connection: %v", err)
	}
}

// wss:// through crypto/tls, with the server behind net/http's TLS.
func TestDialTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ServeConn(c, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }})
	}))
	defer srv.Close()
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https")+"/", &wsconn.DialOptions{TLSConfig: tlsConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteMessage(wsframe.OpText, []byte("secret"))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "secret" {
		t.Fatalf("%q %v", got, err)
	}
	if err := c.Close(wsframe.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
}

// A connection from which nothing arrives for IdleTimeout gets 1001.
func TestIdleTimeout(t *testing.T) {
	// The client never answers the Close: the close timeout ends the wait.
	s := startEcho(t, Options{Conn: wsconn.Options{IdleTimeout: 100 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}})
	nc := dialRaw(t, s)
	start := time.Now()
	got := readReply(t, nc, 3*time.Second)
	if got != "close 1001 \"idle timeout\"\nEOF\n" {
		t.Fatalf("reply %q", got)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", time.Since(start))
	}
}

// A handler stuck in OnMessage does not hold Shutdown past its context: the
// connection is closed under it and Shutdown reports the deadline.
func TestShutdownDoesNotWaitForAStuckHandler(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Handler: Funcs{Message: func(*wsconn.Conn, wsframe.Opcode, []byte) {
		close(entered)
		<-release
	}}, Options: Options{Logf: func(string, ...any) {}}}
	onRuntime(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer close(release)
	for s.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	nc := dialRaw(t, s)
	nc.Write(wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true}, []byte("hold")))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	returned := make(chan error, 1)
	go func() { returned <- s.Shutdown(ctx) }()
	select {
	case err := <-returned:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want the context's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown waited for a handler that never returns")
	}
}

// Header fields the handler set before Upgrade go out with the 101 (over
// HTTP/2 they are the 200's header by construction); the handshake's own
// fields are not repeated.
func TestUpgradeSendsTheHandlersHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=abc; HttpOnly")
		w.Header().Set("Upgrade", "not-this")
		c, err := Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.CloseNow()
	}))
	defer srv.Close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, requestHead, srv.Listener.Addr())
	resp, err := io.ReadAll(nc)
	head, _, _ := strings.Cut(string(resp), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "\r\nSet-Cookie: session=abc; HttpOnly") || strings.Contains(head, "not-this") {
		t.Fatalf("answer %q (%v)", head, err)
	}
}
