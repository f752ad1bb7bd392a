package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

var sizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20}

// validCodes are the close codes a peer may send.
var validCodes = []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999}

// gorillaCodes leaves out 1014 (Bad Gateway, registered with IANA after
// RFC 6455): gorilla/websocket v1.5.3 rejects it as "bad close code".
func gorillaCodes() []int {
	var out []int
	for _, c := range validCodes {
		if c != 1014 {
			out = append(out, c)
		}
	}
	return out
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// startWsfsm runs wsfsm's echo server on loopback.
func startWsfsm(t *testing.T) string { return startWsfsmWith(t, server.Options{}) }

// startWsfsmWith runs wsfsm's echo server on loopback with o.
func startWsfsmWith(t *testing.T, o server.Options) string {
	t.Helper()
	o.Logf = func(string, ...any) {}
	s := &server.Server{
		Handler: server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }},
		Options: o,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String() + "/"
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// gorilla client → wsfsm server.
func TestGorillaClient(t *testing.T) {
	url := startWsfsm(t)
	d := websocket.Dialer{WriteBufferSize: 4096, ReadBufferSize: 4096}
	c, _, err := d.DialContext(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadLimit(32 << 20)
	for _, n := range sizes {
		for _, op := range []int{websocket.BinaryMessage, websocket.TextMessage} {
			msg := payload(n)
			// gorilla fragments messages larger than its write buffer.
			if err := c.WriteMessage(op, msg); err != nil {
				t.Fatal(err)
			}
			gop, got, err := c.ReadMessage()
			if err != nil || gop != op || !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes: %v %v %d", n, err, gop, len(got))
			}
		}
	}
	// Explicit fragments.
	w, _ := c.NextWriter(websocket.TextMessage)
	for _, p := range []string{"frag", "ment", "ed"} {
		w.Write([]byte(p))
		if f, ok := w.(interface{ Flush() error }); ok {
			f.Flush()
		}
	}
	w.Close()
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "fragmented" {
		t.Fatalf("fragments: %q %v", got, err)
	}
	// Ping → pong.
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("gorilla?"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte("flush"))
	c.ReadMessage() // the pong handler runs inside reads
	select {
	case p := <-pong:
		if p != "gorilla?" {
			t.Errorf("pong %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Error("no pong")
	}
}

func TestGorillaCloseCodes(t *testing.T) {
	url := startWsfsm(t)
	for _, code := range gorillaCodes() {
		c, _, err := websocket.DefaultDialer.DialContext(ctx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Now().Add(time.Second))
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Errorf("code %d: %v", code, err)
		}
		c.Close()
	}
}

// coder client → wsfsm server.
func TestCoderClient(t *testing.T) {
	url := startWsfsm(t)
	c, _, err := coder.Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(32 << 20)
	for _, n := range sizes {
		msg := payload(n)
		if err := c.Write(ctx(t), coder.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx(t))
		if err != nil || typ != coder.MessageBinary || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v %d", n, err, len(got))
		}
	}
	// Streamed (fragmented) writes.
	w, _ := c.Writer(ctx(t), coder.MessageText)
	for _, p := range []string{"str", "eam", strings.Repeat("!", 70000)} {
		w.Write([]byte(p))
	}
	w.Close()
	if _, got, err := c.Read(ctx(t)); err != nil || !strings.HasPrefix(string(got), "stream!") || len(got) != 70006 {
		t.Fatalf("stream: %d %v", len(got), err)
	}
	// coder's Ping needs a concurrent reader.
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Close(coder.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

func TestCoderCloseCodes(t *testing.T) {
	url := startWsfsm(t)
	for _, code := range validCodes {
		c, _, err := coder.Dial(ctx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		// coder's Close performs the handshake and checks the echo arrives.
		err = c.Close(coder.StatusCode(code), "bye")
		if err != nil {
			t.Errorf("code %d: %v", code, err)
		}
	}
}

// wsfsm client → gorilla and coder echo servers.
func TestWsfsmClientAgainstPeers(t *testing.T) {
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	gorillaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(32 << 20)
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ""), time.Now().Add(time.Second))
				}
				return
			}
			c.WriteMessage(op, p)
		}
	}))
	defer gorillaSrv.Close()
	coderSrv := coderEchoServer(nil)
	defer coderSrv.Close()
	for name, srv := range map[string]*httptest.Server{"gorilla": gorillaSrv, "coder": coderSrv} {
		t.Run(name, func(t *testing.T) {
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			c, err := wsconn.Dial(ctx(t), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for _, n := range sizes {
				msg := payload(n)
				if err := c.WriteMessage(wsframe.OpText, msg); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != wsframe.OpText || !bytes.Equal(got, msg) {
					t.Fatalf("%d bytes: %v %v %d", n, err, op, len(got))
				}
			}
			w, _ := c.NextWriter(wsframe.OpBinary)
			w.Write([]byte("frag"))
			w.Write([]byte("mented"))
			w.Close()
			if _, got, err := c.ReadMessage(); err != nil || string(got) != "fragmented" {
				t.Fatalf("fragments: %q %v", got, err)
			}
			go func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
			pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := c.Ping(pctx, []byte("ping")); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if err := c.Close(wsframe.CloseNormal, "bye"); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

// Every valid close code, from the wsfsm client to each peer and back.
func TestWsfsmClientCloseCodes(t *testing.T) {
	got := make(chan int, 1)
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			got <- ce.Code
		} else {
			got <- -1
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, code := range gorillaCodes() {
		c, err := wsconn.Dial(ctx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close(wsframe.CloseCode(code), fmt.Sprint("code ", code))
		if g := <-got; g != code {
			t.Errorf("gorilla saw %d, sent %d", g, code)
		}
	}
}

// coderEchoServer is a coder/websocket echo server (32 MiB read limit)
// accepting with o.
func coderEchoServer(o *coder.AcceptOptions) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, o)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(32 << 20)
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
}
