package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// xconnect reports whether net/http's HTTP/2 server offers extended
// CONNECT in this process. It reads GODEBUG once, at init, with
// strings.Contains (it is not a registered setting, so //go:debug cannot
// set it): a test that needs it runs again in a child process of the test
// binary with the variable set.
func xconnect() bool { return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") }

// inXConnectProcess runs the test t in a child process with
// GODEBUG=http2xconnect=1 and reports whether the caller is that child.
func inXConnectProcess(t *testing.T) bool {
	t.Helper()
	if xconnect() {
		return true
	}
	if testing.Short() {
		t.Skip("short: the HTTP/2 tests run in a child process")
	}
	// The child runs what this process was asked to run (a subtest
	// filter included), or t.
	run := "^" + t.Name() + "$"
	if f := flag.Lookup("test.run"); f != nil && strings.HasPrefix(f.Value.String(), t.Name()+"/") {
		run = f.Value.String()
	}
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1", "-test.timeout=5m")
	godebug := "http2xconnect=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child process with GODEBUG=%s: %v\n%s", godebug, err, out)
	}
	if testing.Verbose() {
		t.Logf("child process with GODEBUG=%s:\n%s", godebug, out)
	}
	return false
}

// h2Server is an httptest TLS server with HTTP/2 whose listener counts
// the TCP connections it accepted.
type h2Server struct {
	*httptest.Server
	accepts atomic.Int64
	// seen records the protocol and method of each upgraded request.
	mu   sync.Mutex
	seen []string
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startH2 serves WebSockets at /ws (Upgrade with o, then ServeConn with h;
// nil h echoes) and plain responses elsewhere.
func startH2(t testing.TB, o Options, h Handler) *h2Server {
	t.Helper()
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if h == nil {
		h = Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }}
	}
	return startH2With(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &o)
		if err != nil {
			return
		}
		ServeConn(c, h) // on HTTP/2 the stream lives while the handler runs
	}, true)
}

// startH2With serves ws at /ws, over HTTP/2 when http2 is set.
func startH2With(t testing.TB, ws http.HandlerFunc, http2 bool) *h2Server {
	s := &h2Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, fmt.Sprintf("HTTP/%d %s", r.ProtoMajor, r.Method))
		s.mu.Unlock()
		ws(w, r)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s", r.Proto)
	})
	s.Server = httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = http2
	s.Config.ErrorLog = nil
	s.Listener = countingListener{s.Listener, &s.accepts}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *h2Server) url() string { return "wss://" + s.Listener.Addr().String() + "/ws" }

// transport is an HTTP2Transport that trusts the test server, closed
// (idle connections) at the end of the test.
func (s *h2Server) transport(t testing.TB) *wsconn.HTTP2Transport {
	cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr := &wsconn.HTTP2Transport{TLSConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func (s *h2Server) protocolsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func dialH2(t testing.TB, s *h2Server, tr *wsconn.HTTP2Transport, o *wsconn.DialOptions) *wsconn.Conn {
	t.Helper()
	if o == nil {
		o = &wsconn.DialOptions{}
	}
	o.HTTP2 = tr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, s.url(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestHTTP2 runs our client against our server over real HTTP/2 on
// loopback, in a process where net/http offers extended CONNECT.
func TestHTTP2(t *testing.T) {
	if !inXConnectProcess(t) {
		return
	}
	t.Run("echo 0 B to 16 MiB", testH2Echo)
	t.Run("fragmented both ways", testH2Fragments)
	t.Run("ping and pong", testH2Ping)
	t.Run("close from the client", testH2ClientClose)
	t.Run("close from the server", testH2ServerClose)
	t.Run("stream reset is 1006", testH2Reset)
	t.Run("connection loss is 1006", testH2ConnLoss)
	t.Run("alongside ordinary requests", testH2WithRequests)
	t.Run("many WebSockets on one connection", testH2Multiplexed)
	t.Run("conformance", testH2Conformance)
	t.Run("handshake", testH2Handshake)
	t.Run("read deadline ends the stream", testH2ReadDeadline)
	t.Run("keepalive", testH2Keepalive)
	t.Run("write timeout against a peer that stopped reading", testH2WriteTimeout)
	t.Run("no leaks", testH2NoLeaks)
	t.Run("streams beyond the server's limit", testH2StreamLimit)
	t.Run("client write timeout against a server that does not read", testH2ClientWriteTimeout)
	t.Run("the close handshake ends the stream with END_STREAM", testH2EndStream)
	t.Run("the http.Server's timeouts stop at the upgrade", testH2ServerTimeouts)
}

func testH2Echo(t *testing.T) {
	s := startH2(t, Options{Conn: wsconn.Options{MaxMessageSize: 32 << 20}}, nil)
	tr := s.transport(t)
	c := dialH2(t, s, tr, &wsconn.DialOptions{Options: wsconn.Options{MaxMessageSize: 32 << 20}})
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20} {
		msg := bytes.Repeat([]byte{byte(n), 'x', 'y'}, n/3+1)[:n]
		op := wsframe.OpBinary
		if n%2 == 0 {
			op = wsframe.OpText
		}
		if err := c.WriteMessage(op, msg); err != nil {
			t.Fatalf("%d B: write: %v", n, err)
		}
		gotOp, got, err := c.ReadMessage()
		if err != nil || gotOp != op || !bytes.Equal(got, msg) {
			t.Fatalf("%d B: echo %v, %d B, %v", n, gotOp, len(got), err)
		}
	}
	if got := s.protocolsSeen(); len(got) != 1 || got[0] != "HTTP/2 CONNECT" {
		t.Errorf("handler saw %q, want one HTTP/2 CONNECT", got)
	}
}

func testH2Fragments(t *testing.T) {
	// The server answers each message by streaming it back in 1000-byte
	// fragments.
	s := startH2(t, Options{}, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		w, err := c.NextWriter(op)
		if err != nil {
			return
		}
		for len(data) > 0 {
			n := min(1000, len(data))
			w.Write(data[:n])
			data = data[n:]
		}
		w.Close()
	}})
	c := dialH2(t, s, s.transport(t), nil)
	msg := bytes.Repeat([]byte("fragment "), 700) // 6300 B
	w, err := c.NextWriter(wsframe.OpText)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(msg); i += 777 {
		if _, err := w.Write(msg[i:min(i+777, len(msg))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	op, r, err := c.NextReader()
	if err != nil || op != wsframe.OpText {
		t.Fatalf("NextReader: %v %v", op, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("streamed echo: %d B, %v", len(got), err)
	}
}

func testH2Ping(t *testing.T) {
	serverPing := make(chan error, 1)
	s := startH2(t, Options{}, Funcs{Open: func(c *wsconn.Conn) {
		// The server pings as soon as the connection is open; Run (the
		// server's read loop) sees the Pong.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			serverPing <- c.Ping(ctx, []byte("from server"))
		}()
	}, Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }})
	c := dialH2(t, s, s.transport(t), nil)
	// The client must read for its Pong (and the server's Ping) to be
	// seen.
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- c.Ping(ctx, []byte("from client"))
	}()
	if err := <-done; err != nil {
		t.Errorf("client ping: %v", err)
	}
	if err := <-serverPing; err != nil {
		t.Errorf("server ping: %v", err)
	}
}

// closeRecorder is a handler that reports how each connection ended and
// when its handler returned.
type closeRecorder struct {
	Funcs
	closed chan error
}

func newCloseRecorder() *closeRecorder {
	r := &closeRecorder{closed: make(chan error, 16)}
	r.Funcs.Message = func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }
	r.Funcs.Close = func(c *wsconn.Conn, err error) { r.closed <- err }
	return r
}

func (r *closeRecorder) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the server's OnClose was not called")
		return nil
	}
}

func wantClose(t *testing.T, who string, err error, code wsframe.CloseCode, reason string) {
	t.Helper()
	var ce *wsconn.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		t.Errorf("%s: %v, want close %d %q", who, err, code, reason)
	}
}

// A long close timeout: a close handshake that waited for it instead of
// ending the stream would outlast the test's bounds (10 s).
var slowClose = wsconn.Options{CloseTimeout: time.Minute}

func testH2ClientClose(t *testing.T) {
	rec := newCloseRecorder()
	s := startH2(t, Options{Conn: slowClose}, rec)
	c := dialH2(t, s, s.transport(t), &wsconn.DialOptions{Options: slowClose})
	closed := make(chan error, 1)
	go func() { closed <- c.Close(4001, "bye") }()
	wantClose(t, "server", rec.next(t), 4001, "bye")
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("client Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client Close did not return: the stream did not end")
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Error("read after Close succeeded")
	}
}

func testH2ServerClose(t *testing.T) {
	rec := newCloseRecorder()
	rec.Funcs.Message = func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		go c.Close(4002, string(data))
	}
	s := startH2(t, Options{Conn: slowClose}, rec)
	c := dialH2(t, s, s.transport(t), &wsconn.DialOptions{Options: slowClose})
	c.WriteMessage(wsframe.OpText, []byte("go away"))
	_, _, err := c.ReadMessage()
	wantClose(t, "client", err, 4002, "go away")
	// The server's reader saw the client's reply Close (an echo of its own
	// code); the handler returned, which ended the stream.
	wantClose(t, "server", rec.next(t), 4002, "")
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("client still reading")
	}
}

func testH2Reset(t *testing.T) {
	rec := newCloseRecorder()
	s := startH2(t, Options{}, rec)
	c := dialH2(t, s, s.transport(t), nil)
	c.WriteMessage(wsframe.OpText, []byte("x"))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	c.CloseNow() // RST_STREAM (CANCEL), no Close frame
	wantClose(t, "server", rec.next(t), wsframe.CloseAbnormal, "")
}

func testH2ConnLoss(t *testing.T) {
	rec := newCloseRecorder()
	s := startH2(t, Options{}, rec)
	c := dialH2(t, s, s.transport(t), nil)
	c.WriteMessage(wsframe.OpText, []byte("x"))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	s.CloseClientConnections() // the TCP connection is gone
	wantClose(t, "server", rec.next(t), wsframe.CloseAbnormal, "")
	_, _, err := c.ReadMessage()
	wantClose(t, "client", err, wsframe.CloseAbnormal, "")
}

func testH2WithRequests(t *testing.T) {
	s := startH2(t, Options{}, nil)
	tr := s.transport(t)
	c := dialH2(t, s, tr, nil)
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get("https://" + s.Listener.Addr().String() + "/plain")
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "plain HTTP/2.0" {
				errs <- fmt.Errorf("plain answer %q", b)
			}
		}()
	}
	// Messages travel while the requests do.
	for i := range 50 {
		msg := []byte(fmt.Sprintf("message %d", i))
		if err := c.WriteMessage(wsframe.OpText, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d TCP connections, want 1", n)
	}
}

func testH2Multiplexed(t *testing.T) {
	s := startH2(t, Options{}, nil)
	tr := s.transport(t)
	first := dialH2(t, s, tr, nil) // the connection the others share
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := wsconn.Dial(ctx, s.url(), &wsconn.DialOptions{HTTP2: tr})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(wsframe.CloseNormal, "")
			for j := range 20 {
				msg := []byte(fmt.Sprintf("conn %d message %d", i, j))
				if err := c.WriteMessage(wsframe.OpBinary, msg); err != nil {
					errs <- err
					return
				}
				if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("conn %d: echo %q, %v", i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	first.Close(wsframe.CloseNormal, "")
	if got := s.accepts.Load(); got != 1 {
		t.Errorf("%d TCP connections for %d WebSockets, want 1", got, n+1)
	}
	if got := len(s.protocolsSeen()); got != n+1 {
		t.Errorf("%d upgrades, want %d", got, n+1)
	}
}

// The conformance rows over a stream: the client writes raw frames on the
// stream under its wsconn.Conn (NetConn) and reads the server's answer
// with the client-role parser, as TestConformance does over TCP. "EOF" is
// the end of the stream (the handler returned).
func testH2Conformance(t *testing.T) {
	def := startH2(t, Options{}, nil)
	limited := startH2(t, Options{Conn: wsconn.Options{MaxMessageSize: 1000, MaxFragments: 10}}, nil)
	cases := []struct {
		name   string
		srv    *h2Server
		send   []frame
		reply  string
		closed bool
	}{
		{"text echo", def, []frame{text("Hello")}, "text fin=true \"Hello\"", false},
		{"fragments with pings between", def, []frame{
			{op: wsframe.OpText, data: "Hel"}, {op: wsframe.OpPing, fin: true, data: "p1"},
			{op: wsframe.OpContinuation, fin: true, data: "lo"}},
			"pong fin=true \"p1\"\ntext fin=true \"Hello\"", false},
		{"close 1000 echoed", def, []frame{closeFrame(1000, "bye")}, "close 1000 \"\"", true},
		{"empty close answered empty", def, []frame{{op: wsframe.OpClose, fin: true}}, "close 0", true},
		{"unmasked frame", def, []frame{{raw: "\x81\x05Hello"}}, "close 1002 \"\"", true},
		{"reserved opcode", def, []frame{{op: 0x3, fin: true}}, "close 1002 \"\"", true},
		{"reserved control opcode", def, []frame{{op: 0xB, fin: true}}, "close 1002 \"\"", true},
		{"RSV1 without extension", def, []frame{{raw: "\xC1\x80\x00\x00\x00\x00"}}, "close 1002 \"\"", true},
		{"fragmented ping", def, []frame{{op: wsframe.OpPing, data: "x"}}, "close 1002 \"\"", true},
		{"126-byte ping", def, []frame{{op: wsframe.OpPing, fin: true, data: strings.Repeat("p", 126)}}, "close 1002 \"\"", true},
		{"continuation without message", def, []frame{{op: wsframe.OpContinuation, fin: true, data: "x"}}, "close 1002 \"\"", true},
		{"new message inside a message", def, []frame{{op: wsframe.OpText, data: "a"}, text("b")}, "close 1002 \"\"", true},
		{"invalid UTF-8", def, []frame{text("ab\xED\xA0\x80")}, "close 1007 \"\"", true},
		{"close reason not UTF-8", def, []frame{closeFrame(1000, "\xC0\xAF")}, "close 1007 \"\"", true},
		{"close code 1005", def, []frame{closeFrame(1005, "")}, "close 1002 \"\"", true},
		{"frame over the limit", limited, []frame{binary_(strings.Repeat("x", 1001))}, "close 1009 \"\"", true},
		{"4 GiB announced", limited, []frame{{raw: "\x82\xFF\x00\x00\x00\x01\x00\x00\x00\x00\x01\x02\x03\x04"}}, "close 1009 \"\"", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dialH2(t, c.srv, c.srv.transport(t), nil)
			nc := conn.NetConn()
			for _, f := range c.send {
				if _, err := nc.Write(f.bytes()); err != nil {
					t.Fatal(err)
				}
			}
			wait := 300 * time.Millisecond
			want := c.reply + "\ntimeout\n"
			if c.closed {
				wait, want = 5*time.Second, c.reply+"\nEOF\n"
			}
			if got := readReply(t, nc, wait); got != want {
				t.Errorf("reply\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Handshake rules over HTTP/2, through the standard library's client
// (ordinary requests, which cannot carry :protocol) and ours.
func testH2Handshake(t *testing.T) {
	s := startH2(t, Options{Protocols: []string{"chat.v2", "chat.v1"}}, nil)
	tr := s.transport(t)
	c := dialH2(t, s, tr, &wsconn.DialOptions{Protocols: []string{"chat.v1", "chat.v2"}})
	if c.Subprotocol() != "chat.v2" {
		t.Errorf("subprotocol %q, want the server's preference chat.v2", c.Subprotocol())
	}
	// Origin: same origin passes, a foreign one is a 403.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := wsconn.Dial(ctx, s.url(), &wsconn.DialOptions{HTTP2: tr, Origin: "https://" + s.Listener.Addr().String()}); err != nil {
		t.Errorf("same origin: %v", err)
	} else {
		c.CloseNow()
	}
	_, err := wsconn.Dial(ctx, s.url(), &wsconn.DialOptions{HTTP2: tr, Origin: "https://evil.example"})
	if err == nil || !strings.Contains(err.Error(), "got 403") {
		t.Errorf("foreign origin: %v, want a 403", err)
	}
	// A GET over HTTP/2 (no :protocol) is refused with 400 naming the rule.
	resp, err := (&http.Client{Transport: tr}).Get("https://" + s.Listener.Addr().String() + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "CONNECT") {
		t.Errorf("GET over HTTP/2: %d %q", resp.StatusCode, body)
	}
	// The client's options are checked as over HTTP/1.1.
	if _, err = wsconn.Dial(ctx, s.url(), &wsconn.DialOptions{HTTP2: tr, Protocols: []string{"a b"}}); err == nil {
		t.Error("an invalid subprotocol token was sent")
	}
	// ws:// and a TLSConfig next to HTTP2 are errors, not ignored.
	if _, err := wsconn.Dial(ctx, "ws://"+s.Listener.Addr().String()+"/ws", &wsconn.DialOptions{HTTP2: tr}); !errors.Is(err, wsconn.ErrHTTP2Scheme) {
		t.Errorf("ws:// over HTTP/2: %v", err)
	}
	if _, err := wsconn.Dial(ctx, s.url(), &wsconn.DialOptions{HTTP2: tr, TLSConfig: &tls.Config{}}); !errors.Is(err, wsconn.ErrHTTP2Options) {
		t.Errorf("TLSConfig with HTTP2: %v", err)
	}
}

// A read deadline cannot be resumed on HTTP/2: the read that passes it
// ends the WebSocket with an error saying so, on both sides.
func testH2ReadDeadline(t *testing.T) {
	srvErr := make(chan error, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &Options{})
		if err != nil {
			srvErr <- err
			return
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _, err = c.ReadMessage()
		srvErr <- err
		Wait(c)
	}
	s := startH2With(t, h, true)
	dialH2(t, s, s.transport(t), nil)
	echo := startH2(t, Options{}, nil)
	c := dialH2(t, echo, echo.transport(t), nil)
	err := <-srvErr
	if !errors.Is(err, ErrHTTP2) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("server read past its deadline: %v, want ErrHTTP2 and os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("server: %v is a timeout: wsconn would wait to read again", err)
	}
	// The client's side (on an echo connection): its own deadline does the
	// same.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = c.ReadMessageContext(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("client ReadMessageContext: %v", err)
	}
	if _, _, err = c.ReadMessage(); err == nil {
		t.Error("client read again after its deadline ended the stream")
	}
}

// Keepalive pings over the stream: a client that reads answers them and
// stays; one that does not read sends no Pong and is closed after the ping
// timeout, its stream ended.
func testH2Keepalive(t *testing.T) {
	rec := newCloseRecorder()
	s := startH2(t, Options{Conn: wsconn.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}}, rec)
	tr := s.transport(t)
	reader := dialH2(t, s, tr, nil)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := reader.ReadMessage()
		readErr <- err
	}()
	dialH2(t, s, tr, nil) // never reads
	err := rec.next(t)
	wantClose(t, "silent client", err, wsframe.CloseAbnormal, "")
	if !errors.Is(err, wsconn.ErrPingTimeout) {
		t.Errorf("silent client ended with %v, not for its missing pong", err)
	}
	// Several intervals later the reading client is still there.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-readErr:
		t.Fatalf("reading client ended: %v", err)
	case err := <-rec.closed:
		t.Fatalf("server closed the reading client: %v", err)
	default:
	}
	reader.Close(wsframe.CloseNormal, "")
	if err := <-readErr; err == nil {
		t.Error("read returned no error after Close")
	}
}

// After many streams opened and closed (cleanly, by reset, by the server),
// the server's goroutines return to where they were: every handler
// returned.
func testH2NoLeaks(t *testing.T) {
	rec := newCloseRecorder()
	rec.closed = make(chan error, 1000)
	s := startH2(t, Options{}, rec)
	tr := s.transport(t)
	dialH2(t, s, tr, nil).Close(wsframe.CloseNormal, "") // the connection exists
	<-rec.closed
	before := runtime.NumGoroutine()
	for i := range 150 {
		c := dialH2(t, s, tr, nil)
		c.WriteMessage(wsframe.OpText, []byte("x"))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			c.Close(wsframe.CloseNormal, "")
		case 1:
			c.CloseNow()
		case 2:
			c.WriteMessage(wsframe.OpText, []byte("\xff")) // invalid UTF-8: the server fails it
			c.ReadMessage()
		}
	}
	for range 150 {
		rec.next(t)
	}
	if got := settle(before, runtime.NumGoroutine); got > before {
		t.Errorf("%d goroutines after 150 WebSockets, %d before", got, before)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d TCP connections, want 1", n)
	}
}

// A server writing to a client that stopped reading runs out of HTTP/2
// flow control; its write timeout breaks the connection (RST_STREAM) and
// the handler returns.
func testH2WriteTimeout(t *testing.T) {
	wrote := make(chan error, 1)
	rec := newCloseRecorder()
	rec.Funcs.Open = func(c *wsconn.Conn) {
		go func() {
			big := make([]byte, 1<<20)
			for {
				if err := c.WriteMessage(wsframe.OpBinary, big); err != nil {
					wrote <- err
					return
				}
			}
		}()
	}
	s := startH2(t, Options{Conn: wsconn.Options{WriteTimeout: 200 * time.Millisecond}}, rec)
	dialH2(t, s, s.transport(t), nil) // never read
	select {
	case err := <-wrote:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("stuck write: %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write was never interrupted")
	}
	rec.next(t) // and the handler's connection ended
}

// Without GODEBUG=http2xconnect=1, net/http's server does not advertise
// extended CONNECT: the client falls back to HTTP/1.1 (on a connection of
// its own), and a server without HTTP/2 gets HTTP/1.1 on the connection
// the client made.
func TestHTTP2Fallback(t *testing.T) {
	if xconnect() {
		t.Skip("this process offers extended CONNECT")
	}
	s := startH2(t, Options{}, nil)
	tr := s.transport(t)
	for i := range 2 { // the second finds the HTTP/2 connection pooled
		c := dialH2(t, s, tr, nil)
		c.WriteMessage(wsframe.OpText, []byte("over HTTP/1.1"))
		if _, got, err := c.ReadMessage(); err != nil || string(got) != "over HTTP/1.1" {
			t.Fatalf("dial %d: echo %q, %v", i, got, err)
		}
		c.Close(wsframe.CloseNormal, "")
	}
	if got := s.protocolsSeen(); len(got) != 2 || got[0] != "HTTP/1 GET" || got[1] != "HTTP/1 GET" {
		t.Errorf("handler saw %q, want two HTTP/1 GET", got)
	}

	h1 := startH2With(t, func(w http.ResponseWriter, r *http.Request) {
		if c, err := Upgrade(w, r, &Options{}); err == nil {
			ServeConn(c, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }})
		}
	}, false) // HTTP/1.1 only
	c := dialH2(t, h1, h1.transport(t), nil)
	c.WriteMessage(wsframe.OpText, []byte("x"))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if got := h1.accepts.Load(); got != 1 {
		t.Errorf("%d TCP connections, want 1 (the one ALPN settled on HTTP/1.1)", got)
	}
}

// A server that allows 4 concurrent streams per connection gets a second
// and a third TCP connection for 10 WebSockets, not a refusal or a wait.
func testH2StreamLimit(t *testing.T) {
	s := startEchoH2Config(t, func(c *http.Server) { c.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 4} })
	tr := s.transport(t)
	var conns []*wsconn.Conn
	for i := range 10 {
		c := dialH2(t, s, tr, nil)
		conns = append(conns, c)
		msg := []byte(fmt.Sprint("ws ", i))
		c.WriteMessage(wsframe.OpText, msg)
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("ws %d: echo %q, %v", i, got, err)
		}
	}
	for i, c := range conns { // all still open
		msg := []byte(fmt.Sprint("again ", i))
		c.WriteMessage(wsframe.OpText, msg)
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("ws %d: echo %q, %v", i, got, err)
		}
	}
	if n := s.accepts.Load(); n != 3 {
		t.Errorf("%d TCP connections for 10 WebSockets at 4 streams each, want 3", n)
	}
}

// A client writing to a server that does not read runs out of HTTP/2 flow
// control; its write timeout breaks the connection, and the server's
// handler (which waits without reading) sees the stream end.
func testH2ClientWriteTimeout(t *testing.T) {
	ended := make(chan error, 1)
	s := startH2With(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &Options{})
		if err != nil {
			return
		}
		Wait(c) // returns once net/http ends the stream (the client reset it)
		ended <- r.Context().Err()
	}, true)
	c := dialH2(t, s, s.transport(t), &wsconn.DialOptions{Options: wsconn.Options{WriteTimeout: 200 * time.Millisecond}})
	big := make([]byte, 1<<20)
	var err error
	for range 64 { // far more than any flow-control window
		if err = c.WriteMessage(wsframe.OpBinary, big); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stuck write: %v, want a deadline error", err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Error("Wait returned while the stream was alive")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server's handler is still waiting")
	}
}

// After the close handshake the server ends its response with END_STREAM
// (the handler returned): the client's stream reads io.EOF itself, not a
// reset, and nothing after the Close.
func testH2EndStream(t *testing.T) {
	s := startH2(t, Options{Conn: slowClose}, nil)
	c := dialH2(t, s, s.transport(t), nil)
	nc := c.NetConn()
	nc.Write(closeFrame(1000, "").bytes())
	if got := readReply(t, nc, 10*time.Second); got != "close 1000 \"\"\nEOF\n" {
		t.Fatalf("reply %q", got)
	}
	_, err := nc.Read(make([]byte, 1))
	if cause := errors.Unwrap(err); cause != io.EOF {
		t.Errorf("stream end %v (cause %v), want END_STREAM (io.EOF)", err, cause)
	}
}

// startEchoH2Config is an HTTP/2 echo server whose http.Server is
// configured by configure before it starts.
func startEchoH2Config(t *testing.T, configure func(*http.Server)) *h2Server {
	s := &h2Server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Upgrade(w, r, &Options{}); err == nil {
			ServeConn(c, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }})
		}
	}))
	s.EnableHTTP2 = true
	configure(s.Config)
	s.Listener = countingListener{s.Listener, &s.accepts}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// ReadTimeout and WriteTimeout bound a request; net/http applies them to
// each HTTP/2 stream. A WebSocket outlives them.
func testH2ServerTimeouts(t *testing.T) {
	s := startEchoH2Config(t, func(c *http.Server) {
		c.ReadTimeout, c.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	})
	c := dialH2(t, s, s.transport(t), nil)
	for i := range 4 {
		time.Sleep(100 * time.Millisecond)
		msg := []byte(fmt.Sprint("after ", (i+1)*100, " ms"))
		c.WriteMessage(wsframe.OpText, msg)
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
}
