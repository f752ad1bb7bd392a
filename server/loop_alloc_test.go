package server

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// An echo on the event loop allocates nothing in the steady state: on the
// loop (Inline) and through the worker pool.
func TestLoopEchoAllocatesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, inline := range []bool{true, false} {
		s := startServer(t, &Server{EventLoop: &LoopOptions{Loops: 1, Inline: inline}})
		nc := dialRaw(t, s)
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		msg := text("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").bytes()
		echo := make([]byte, 2+80)
		roundTrip := func() {
			if _, err := nc.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(nc, echo); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			roundTrip()
		}
		if a := testing.AllocsPerRun(500, roundTrip); a > 0.05 {
			t.Errorf("inline=%v: %.2f allocations per echoed message", inline, a)
		}
	}
}
