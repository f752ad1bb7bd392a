package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func startNode(t *testing.T, cfg config) (started, func() error) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Grace = 3 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan started, 1)
	done := make(chan error, 1)
	var mu sync.Mutex
	ended := false
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Logf(format, args...)
		}
	}
	go func() { done <- run(ctx, cfg, logf, ready) }()
	var s started
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(15 * time.Second):
		t.Fatal("node not ready in 15 s")
	}
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				err = errors.New("node did not stop within 15 s")
			}
			mu.Lock()
			ended = true
			mu.Unlock()
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

func dialPage(t *testing.T, base string) *wsconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &wsconn.DialOptions{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func send(t *testing.T, c *wsconn.Conn, m chat.Message) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := c.WriteMessage(wsframe.OpText, b); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads until a message satisfies ok, or fails after 10 s.
func readUntil(t *testing.T, c *wsconn.Conn, ok func(chat.Message) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := c.ReadMessageContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m chat.Message
		json.Unmarshal(b, &m)
		if ok(m) {
			return
		}
	}
}

// The demo as the README runs it: a first node with its NATS server, a
// second that joins it; a page on each; they chat; each node stops with
// 1001 to its page.
func TestTwoNodesChat(t *testing.T) {
	a, stopA := startNode(t, config{NATSAddr: "127.0.0.1:0"})
	b, stopB := startNode(t, config{Join: a.NATSURL})
	alice, bob := dialPage(t, a.ChatURL), dialPage(t, b.ChatURL)
	send(t, alice, chat.Message{Type: "hello", Name: "alice"})
	readUntil(t, alice, func(m chat.Message) bool { return m.Type == "join" })
	send(t, bob, chat.Message{Type: "hello", Name: "bob"})
	// bob's node subscribed to the room through NATS when bob connected;
	// alice's messages reach it once that subscription has propagated.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		send(t, alice, chat.Message{Type: "chat", Text: "hi bob"})
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, data, err := bob.ReadMessageContext(rctx)
		rcancel()
		if err == nil && strings.Contains(string(data), "hi bob") {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("alice's message never reached bob on the other node")
		}
	}
	send(t, bob, chat.Message{Type: "chat", Text: "hi alice"})
	readUntil(t, alice, func(m chat.Message) bool { return m.Type == "chat" && m.Name == "bob" && m.Text == "hi alice" })

	for _, x := range []struct {
		page *wsconn.Conn
		stop func() error
	}{{bob, stopB}, {alice, stopA}} {
		code := make(chan wsframe.CloseCode, 1)
		go func() {
			for {
				_, _, err := x.page.ReadMessage()
				var ce *wsconn.CloseError
				if errors.As(err, &ce) {
					code <- ce.Code
					return
				}
				if err != nil {
					code <- 0
					return
				}
			}
		}()
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		if c := <-code; c != wsframe.CloseGoingAway {
			t.Errorf("page saw %v at the node's stop, want 1001", c)
		}
	}
}
