package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

var churnN = flag.Int("churn", 10000, "connections opened and closed by TestLoopChurn")

// Churn on the event loop: many connections open, echo, and go (a close
// handshake, an abrupt close, a reset, one that leaves in the middle of
// its handshake); afterwards no descriptor, timer, connection or
// goroutine of the server is left. Bigger runs: -churn N.
func TestLoopChurn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	n := *churnN
	if testing.Short() {
		n = min(n, 2000)
	}
	s := startServer(t, &Server{EventLoop: &LoopOptions{Loops: 2}})
	time.Sleep(20 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	addr := s.Addr().String()
	head := fmt.Sprintf(requestHead, addr)
	echo := text("churn").bytes()
	closing := closeFrame(1000, "").bytes()
	next := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for i := range next {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if i%4 == 3 { // leaves in the middle of the handshake
					nc.Write([]byte(head[:20]))
					nc.Close()
					continue
				}
				nc.Write(append([]byte(head), echo...))
				want := len(switchingProtocols) + 7 // the 101 and the echo
				if _, err := io.ReadAtLeast(nc, buf, want); err != nil {
					errs <- fmt.Errorf("connection %d: %v", i, err)
					nc.Close()
					return
				}
				switch i % 4 {
				case 0: // close handshake
					nc.Write(closing)
					io.Copy(io.Discard, nc)
				case 1: // abrupt
				case 2: // reset
					nc.(*net.TCPConn).SetLinger(0)
				}
				nc.Close()
			}
		}()
	}
	start := time.Now()
feed:
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			t.Error(err)
			break feed
		}
	}
	close(next)
	wg.Wait()
	t.Logf("%d connections in %v", n, time.Since(start))
	if got := settle(0, func() int { c, _, _ := s.loop.g.Inspect(); return c }); got != 0 {
		t.Errorf("%d connections left on the loops", got)
	}
	if _, timers, _ := s.loop.g.Inspect(); timers != 0 {
		t.Errorf("%d timers left on the loops", timers)
	}
	if got := settle(goroutines, runtime.NumGoroutine); got > goroutines {
		t.Errorf("goroutines: %d before, %d after", goroutines, got)
	}
	if got := settle(fds, func() int { return openFDs(t) }); got > fds {
		t.Errorf("file descriptors: %d before, %d after", fds, got)
	}
	if s.Open() != 0 {
		t.Errorf("the server counts %d open connections", s.Open())
	}
}

// Shutdown sends 1001 to every open connection (on the event loop: of
// every loop) and returns once they are over.
func TestShutdownSendsGoingAway(t *testing.T) {
	const conns = 40
	// The clients never answer the Close: the close timeout ends each.
	s := startServer(t, &Server{EventLoop: loopFor(4), Options: Options{Conn: wsconn.Options{CloseTimeout: 300 * time.Millisecond}}})
	ncs := make([]net.Conn, conns)
	for i := range ncs {
		ncs[i] = dialRaw(t, s)
		// An echo: the connection is open on the server too.
		ncs[i].Write(text("x").bytes())
		echo := make([]byte, 3)
		if _, err := io.ReadFull(ncs[i], echo); err != nil || string(echo) != "\x81\x01x" {
			t.Fatalf("echo %q, %v", echo, err)
		}
	}
	if s.loop != nil {
		busy := 0
		for _, l := range s.loop.g.PerLoop() {
			if l > 0 {
				busy++
			}
		}
		t.Logf("connections on %d of 4 loops", busy)
	}
	got := make(chan string, conns)
	for _, nc := range ncs {
		go func() {
			got <- readReply(t, nc, 5*time.Second)
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range conns {
		if r := <-got; r != "close 1001 \"server shutting down\"\nEOF\n" {
			t.Errorf("a connection got %q", r)
		}
	}
	if s.Open() != 0 {
		t.Errorf("%d connections open after Shutdown", s.Open())
	}
}

// loopFor is LoopOptions with n loops when testing the event loop, nil
// otherwise.
func loopFor(n int) *LoopOptions {
	if !onLoop {
		return nil
	}
	return &LoopOptions{Loops: n}
}

// A peer that goes while its handler is blocked: the connection waits for
// the handler without the loop waking for it again and again (a hang-up
// is reported whatever the interest).
func TestLoopHangUpWhileTheHandlerBlocks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s := startServer(t, &Server{EventLoop: &LoopOptions{Loops: 1}, Handler: Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		entered <- struct{}{}
		<-release
	}}})
	nc := dialRaw(t, s)
	nc.Write(text("block").bytes())
	<-entered
	nc.(*net.TCPConn).SetLinger(0)
	nc.Close() // a reset: the socket is hung up at once
	time.Sleep(50 * time.Millisecond)
	_, _, before := s.loop.g.Inspect()
	time.Sleep(200 * time.Millisecond)
	_, _, after := s.loop.g.Inspect()
	close(release)
	// Two for the inspections themselves; a spinning loop wakes
	// thousands of times.
	if woke := after - before; woke > 20 {
		t.Errorf("the loop woke %d times in 200 ms for a hung-up connection waiting for its handler", woke)
	}
	waitFor(t, 5*time.Second, "the connection over", func() bool { return s.Open() == 0 })
}

// CloseNow drops the connection without a Close frame; after the peer's
// Close it lets the reply go out first.
func TestCloseNowFromTheHandler(t *testing.T) {
	s := startServer(t, &Server{Handler: Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		if string(data) == "drop" {
			c.CloseNow()
		}
	}, Close: func(c *wsconn.Conn, err error) {
		c.CloseNow() // after the handshake: the reply still goes
	}}})
	nc := dialRaw(t, s)
	nc.Write(text("drop").bytes())
	if got := readReply(t, nc, 3*time.Second); got != "EOF\n" {
		t.Errorf("CloseNow: the peer got %q", got)
	}
	nc = dialRaw(t, s)
	nc.Write(closeFrame(1000, "").bytes())
	if got := readReply(t, nc, 3*time.Second); got != "close 1000 \"\"\nEOF\n" {
		t.Errorf("CloseNow after the peer's Close: the peer got %q", got)
	}
}

// Keepalive from the connection options: a peer that answers no ping is
// dropped at the ping timeout with ErrPingTimeout; one that answers stays.
func TestKeepaliveDropsASilentPeer(t *testing.T) {
	ended := make(chan error, 2)
	s := startServer(t, &Server{
		Options: Options{Conn: wsconn.Options{PingInterval: 200 * time.Millisecond}},
		Handler: Funcs{
			Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) },
			Close:   func(c *wsconn.Conn, err error) { ended <- err },
		},
	})
	silent := dialRaw(t, s)
	got := readReply(t, silent, 3*time.Second)
	if got != "ping fin=true \"\"\nEOF\n" {
		t.Errorf("a silent peer got %q", got)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, wsconn.ErrPingTimeout) {
			t.Errorf("the silent peer's connection ended with %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("OnClose not called for the silent peer")
	}
	// A peer that answers every ping is still served after several.
	live := dialRaw(t, s)
	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient})
	buf := make([]byte, 256)
	for pings := 0; pings < 4; {
		n, err := live.Read(buf)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		for chunk := buf[:n]; ; {
			tok, k, perr := p.Next(chunk)
			chunk = chunk[k:]
			if perr != nil {
				t.Fatal(perr)
			}
			if tok.Kind == wsframe.TokenNone {
				break
			}
			if tok.Kind == wsframe.TokenHeader && tok.Header.Opcode == wsframe.OpPing {
				pings++
				live.Write(frame{op: wsframe.OpPong, fin: true}.bytes())
			}
		}
	}
	live.Write(text("still here").bytes())
	if got := readReply(t, live, 300*time.Millisecond); !strings.Contains(got, "text fin=true \"still here\"\n") {
		t.Errorf("a peer answering pings got %q", got)
	}
}

// On the event loop a peer that reads nothing of what is queued for it is
// dropped at the write timeout (no write ever blocks to notice it).
func TestLoopDropsAStalledPeer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop runs on Linux")
	}
	ended := make(chan error, 1)
	s := startServer(t, &Server{
		EventLoop: &LoopOptions{Loops: 1},
		Options:   Options{Conn: wsconn.Options{WriteTimeout: 200 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}},
		Handler: Funcs{
			Open: func(c *wsconn.Conn) {
				// More than the kernel's send buffer takes (tcp_wmem), less
				// than the queue's bound with it.
				if err := c.WriteMessage(wsframe.OpBinary, make([]byte, 8<<20)); err != nil {
					t.Errorf("a write under the queue's bound: %v", err)
				}
			},
			Close: func(c *wsconn.Conn, err error) { ended <- err },
		},
	})
	nc := dialSmallWindow(t, s) // never reads past the handshake
	nc.SetDeadline(time.Time{})
	select {
	case err := <-ended:
		if !errors.Is(err, ErrWriteStalled) {
			t.Errorf("the stalled peer's connection ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a peer that reads nothing was not dropped")
	}
	waitFor(t, 5*time.Second, "the stalled connection over", func() bool { return s.Open() == 0 })
}
