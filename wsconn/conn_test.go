package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

type echoServer struct {
	*server.Server
	url    string
	closed chan error
}

func startServer(t *testing.T, o server.Options) *echoServer {
	t.Helper()
	o.Logf = func(string, ...any) {}
	e := &echoServer{closed: make(chan error, 16)}
	e.Server = &server.Server{Handler: server.Funcs{
		Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) },
		Close:   func(c *wsconn.Conn, err error) { e.closed <- err },
	}, Options: o}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	e.url = "ws://" + ln.Addr().String() + "/"
	return e
}

func dial(t *testing.T, url string, o *wsconn.DialOptions) *wsconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEchoSizes(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		op := wsframe.OpBinary
		if n%2 == 0 {
			op = wsframe.OpText
		}
		if err := c.WriteMessage(op, msg); err != nil {
			t.Fatal(err)
		}
		gop, got, err := c.ReadMessage()
		if err != nil || gop != op || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v %v %d bytes", n, err, gop, len(got))
		}
	}
}

func TestStreamingBothWays(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	w, err := c.NextWriter(wsframe.OpText)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{"stream", "ed ", strings.Repeat("x", 100000)}
	for _, p := range parts {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		// A control frame between fragments is allowed.
		if err := c.WritePing([]byte("between")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	op, r, err := c.NextReader()
	if err != nil || op != wsframe.OpText {
		t.Fatal(op, err)
	}
	got, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil || string(got) != strings.Join(parts, "") {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
}

func TestPingWaitsForPong(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
}

func TestCloseHandshakeFromClient(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	if err := c.Close(wsframe.CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	var ce *wsconn.CloseError
	select {
	case err := <-s.closed:
		if !errors.As(err, &ce) || ce.Code != wsframe.CloseNormal || ce.Reason != "done" {
			t.Fatalf("server saw %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("server handler did not end")
	}
	if _, _, err := c.ReadMessage(); !errors.As(err, &ce) {
		t.Errorf("read after close: %v", err)
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	c.WriteMessage(wsframe.OpText, []byte("hi")) // make sure the server runs it
	c.ReadMessage()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var ce *wsconn.CloseError
	if err := <-done; !errors.As(err, &ce) || ce.Code != wsframe.CloseGoingAway {
		t.Fatalf("client saw %v", err)
	}
}

func TestContextVariants(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.ReadMessageContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v", err)
	}
	// A deadline does not break the connection.
	c.WriteMessage(wsframe.OpText, []byte("after the deadline"))
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "after the deadline" {
		t.Fatalf("after a read deadline: %q %v", got, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := c.WriteMessageContext(ctx2, wsframe.OpText, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write: %v", err)
	}
}

// Several goroutines write at once; every message arrives whole.
func TestConcurrentWriters(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 2000+i)
				if i%5 == 0 {
					nw, _ := c.NextWriter(wsframe.OpBinary)
					nw.Write(msg[:1000])
					nw.Write(msg[1000:])
					nw.Close()
					continue
				}
				if err := c.WriteMessage(wsframe.OpBinary, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for i := 0; i < writers*each; i++ {
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < 2000 || bytes.Count(got, got[:1]) != len(got) {
			t.Fatalf("message %d interleaved (%d bytes)", i, len(got))
		}
	}
	wg.Wait()
}

func TestDialFailures(t *testing.T) {
	s := startServer(t, server.Options{Protocols: []string{"chat"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := wsconn.Dial(ctx, "http://x/", nil); err == nil {
		t.Error("http scheme accepted")
	}
	_, err := wsconn.Dial(ctx, s.url, &wsconn.DialOptions{Origin: "http://evil.example"})
	if !errors.Is(err, handshake.ErrStatus) || !strings.Contains(err.Error(), "403") {
		t.Errorf("foreign origin: %v", err)
	}
	c, err := wsconn.Dial(ctx, s.url, &wsconn.DialOptions{Protocols: []string{"mqtt", "chat"}})
	if err != nil || c.Subprotocol() != "chat" {
		t.Fatalf("subprotocol: %v", err)
	}
	c.CloseNow()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := wsconn.Dial(ctx, "ws://"+addr+"/", nil); err == nil {
		t.Error("dial to a closed port succeeded")
	}
	// A server that never answers: the context ends the handshake.
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		if nc, err := silent.Accept(); err == nil {
			defer nc.Close()
			time.Sleep(2 * time.Second)
		}
	}()
	short, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	if _, err := wsconn.Dial(short, "ws://"+silent.Addr().String()+"/", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v", err)
	}
}

// Keepalive: a client that never answers pings is dropped; one that does
// (any reading client) stays.
func TestKeepalive(t *testing.T) {
	s := startServer(t, server.Options{Conn: wsconn.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}})
	live := dial(t, s.url, nil)
	go func() {
		for {
			if _, _, err := live.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// A client that completes the handshake and then never reads, so never
	// answers a ping.
	dial(t, s.url, nil)
	select {
	case <-s.closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the silent client was not dropped")
	}
	time.Sleep(200 * time.Millisecond)
	if err := live.WriteMessage(wsframe.OpText, []byte("still here")); err != nil {
		t.Fatalf("the live client was dropped: %v", err)
	}
}

// A refused handshake is a *HandshakeError with the server's status,
// header and the start of its body, and still handshake.ErrStatus.
func TestDialRefusalCarriesTheResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.Read(make([]byte, 4096))
				body := "sign in first\nsecond line\n"
				fmt.Fprintf(nc, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: %d\r\n\r\n", len(body))
				time.Sleep(20 * time.Millisecond) // the body in a packet of its own
				nc.Write([]byte(body))
				time.Sleep(time.Second) // and the connection kept open
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = wsconn.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
	var he *wsconn.HandshakeError
	if !errors.As(err, &he) || !errors.Is(err, handshake.ErrStatus) {
		t.Fatalf("error %v (%T), want a *HandshakeError", err, err)
	}
	if he.Status != 401 || he.Header.Get("WWW-Authenticate") != "Bearer" || string(he.Body) != "sign in first\nsecond line\n" {
		t.Errorf("status %d, header %q, body %q", he.Status, he.Header, he.Body)
	}
	if got := err.Error(); got != "wsconn: handshake refused: 401 Unauthorized: sign in first" {
		t.Errorf("message %q", got)
	}
}

// DialOptions.NetDial opens the connection: here one that counts the bytes
// the client writes.
func TestDialWithNetDial(t *testing.T) {
	s := startServer(t, server.Options{})
	var written atomic.Int64
	dialed := 0
	o := &wsconn.DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed++
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{nc, &written}, nil
	}}
	c := dial(t, s.url, o)
	if err := c.WriteMessage(wsframe.OpText, []byte("counted")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "counted" {
		t.Fatalf("%q %v", got, err)
	}
	// The request head, then the 7-byte message in a 13-byte masked frame.
	if dialed != 1 || written.Load() < 13+100 {
		t.Errorf("dialed %d times, %d bytes written through NetDial's connection", dialed, written.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := wsconn.Dial(ctx, s.url, &wsconn.DialOptions{NetDial: o.NetDial, Dialer: &net.Dialer{}}); err == nil {
		t.Error("Dialer and NetDial together accepted")
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}
