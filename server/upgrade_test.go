package server

import (
	"context"
	"errors"
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
		Serve(c, Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, append([]byte("echo: "), data...))
		}}, nil)
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
	s := startEcho(t, Options{MaxConns: 1})
	nc := dialRaw(t, s)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := wsconn.Dial(ctx, "ws://"+s.Addr().String()+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("second connection: %v", err)
	}
}
