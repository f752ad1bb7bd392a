package wsconn

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// After CloseSend the reader still receives every message the peer sent
// before its Close reply, then the peer's code; a second Close is refused.
func TestCloseSendKeepsReading(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := NewConn(nc, wsframe.RoleServer, "", nil, Options{})
		t.Cleanup(func() { s.CloseNow() }) // not before its Close reply is out
		// The server is busy for a while, then answers what came before
		// the client's Close, then reads the Close (and replies).
		time.Sleep(50 * time.Millisecond)
		for _, m := range []string{"a", "b"} {
			if err := s.WriteMessage(wsframe.OpText, []byte(m)); err != nil {
				done <- err
				return
			}
		}
		_, _, err = s.ReadMessage()
		done <- err
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc, wsframe.RoleClient, "", nil, Options{CloseTimeout: 2 * time.Second})
	defer c.CloseNow()
	if err := c.CloseSend(wsframe.CloseNormal, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSend(wsframe.CloseNormal, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("second CloseSend: %v, want ErrClosed", err)
	}
	for _, want := range []string{"a", "b"} {
		_, p, err := c.ReadMessage()
		if err != nil || string(p) != want {
			t.Fatalf("read %q, %v; want %q", p, err, want)
		}
	}
	_, _, err = c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != wsframe.CloseNormal {
		t.Fatalf("after the messages: %v, want the peer's Close 1000", err)
	}
	var sce *CloseError
	if err := <-done; !errors.As(err, &sce) || sce.Code != wsframe.CloseNormal || sce.Reason != "bye" {
		t.Fatalf("server read %v, want Close 1000 bye", err)
	}
}
