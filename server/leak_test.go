package server

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(entries)
}

// settle waits until f() <= want or the timeout, returning the last value.
func settle(want int, f func() int) int {
	deadline := time.Now().Add(10 * time.Second)
	v := f()
	for v > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		v = f()
	}
	return v
}

// After 1000 connections opened and closed, cleanly and abruptly, the
// server's goroutines and file descriptors return to where they were.
func TestNoLeaksAfter1000Connections(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := startEcho(t, Options{})
	url := "ws://" + s.Addr().String() + "/"
	time.Sleep(50 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 1000; i++ {
		c, err := wsconn.Dial(ctx, url, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.WriteMessage(wsframe.OpText, []byte("x"))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		switch i % 3 {
		case 0:
			c.Close(wsframe.CloseNormal, "")
		case 1:
			c.CloseNow() // abrupt: no close frame
		case 2:
			c.NetConn().(interface{ SetLinger(int) error }).SetLinger(0) // RST
			c.CloseNow()
		}
	}
	if got := settle(goroutines, runtime.NumGoroutine); got > goroutines {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after\n%s", goroutines, got, buf[:min(n, 4000)])
	}
	if got := settle(fds, func() int { return openFDs(t) }); got > fds {
		t.Errorf("file descriptors: %d before, %d after", fds, got)
	}
	if s.Open() != 0 {
		t.Errorf("server still counts %d open connections", s.Open())
	}
}
