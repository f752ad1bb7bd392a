package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm"
	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

func startRun(t *testing.T, cfg config) (base string, h *chat.Hub, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h = &chat.Hub{Logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, h, cfg, t.Logf) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("run did not return within 15 s of the stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), h, stop
}

func dialPage(t *testing.T, base string) *wsfsm.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsfsm.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsfsm.DialOptions{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// A stop (SIGINT/SIGTERM in main) sends 1001 to every one of 50 pages, and
// run returns once they have answered.
func TestStopSends1001ToEveryPage(t *testing.T) {
	base, h, stop := startRun(t, defaults)
	const pages = 50
	codes := make(chan wsfsm.CloseCode, pages)
	for range pages {
		c := dialPage(t, base)
		go func() {
			for {
				_, _, err := c.ReadMessage()
				var ce *wsfsm.CloseError
				if errors.As(err, &ce) {
					codes <- ce.Code
					return
				}
				if err != nil {
					codes <- 0
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); h.Clients() < pages; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pages connected", h.Clients(), pages)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i := range pages {
		select {
		case code := <-codes:
			if code != wsfsm.CloseGoingAway {
				t.Errorf("page %d saw %v, want 1001", i, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d pages saw a close", i)
		}
	}
	if h.Clients() != 0 {
		t.Errorf("%d pages left", h.Clients())
	}
}

// A page that never answers the Close does not hold the stop beyond the
// grace period.
func TestStopIsBounded(t *testing.T) {
	cfg := defaults
	cfg.Grace = 300 * time.Millisecond
	base, h, stop := startRun(t, cfg)
	dialPage(t, base) // never read: its end of the close handshake never happens
	for deadline := time.Now().Add(5 * time.Second); h.Clients() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("page not connected")
		}
	}
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v with a mute page (grace %v)", time.Since(began).Round(time.Millisecond), cfg.Grace)
}

// The HTTP server drops an idle keep-alive connection, and a client that
// does not finish its request head.
func TestHTTPTimeouts(t *testing.T) {
	if s := newHTTPServer(nil, defaults); s.ReadHeaderTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("header timeout %v, idle timeout %v", s.ReadHeaderTimeout, s.IdleTimeout)
	}
	cfg := defaults
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	base, _, _ := startRun(t, cfg)
	addr := strings.TrimPrefix(base, "http://")

	// Idle: one request on a keep-alive connection, then silence.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle keep-alive connection: %v, want EOF (closed by the server)", err)
	}

	// Slow head: half a request line, then silence.
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	io.WriteString(nc2, "GET / HTTP/1.1\r\nHost: ")
	nc2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc2); err != nil {
		t.Errorf("unfinished head: %v, want the server to close the connection", err)
	}
}

// -tls: the self-signed certificate verifies for 127.0.0.1, and pages
// connect over wss. (That browsers then use HTTP/2 extended CONNECT is
// shown in interop's Chromium test, in a process started with
// GODEBUG=http2xconnect=1.)
func TestTLSMode(t *testing.T) {
	cfg := defaults
	var err error
	if cfg.TLS, err = tlsConfig("", ""); err != nil {
		t.Fatal(err)
	}
	base, _, stop := startRun(t, cfg)
	roots := x509.NewCertPool()
	roots.AddCert(cfg.TLS.Certificates[0].Leaf)
	url := "wss" + strings.TrimPrefix(base, "http") + "/ws"
	origin := "https" + strings.TrimPrefix(base, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsfsm.Dial(ctx, url, &wsfsm.DialOptions{Origin: origin, TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.WriteMessage(wsfsm.TextMessage, []byte(`{"type":"hello","name":"tls"}`)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessageContext(ctx); err != nil || !strings.Contains(string(got), `"join"`) {
		t.Fatalf("over wss: %q %v", got, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
