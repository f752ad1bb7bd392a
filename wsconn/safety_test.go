package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// hostileServer answers the opening handshake on a loopback port and then
// runs act on the raw connection.
func hostileServer(t *testing.T, act func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				r := handshake.NewRequestReader(handshake.Limits{})
				buf := make([]byte, 4096)
				for {
					n, err := nc.Read(buf)
					if err != nil {
						return
					}
					if _, done, err := r.Feed(buf[:n]); err != nil {
						return
					} else if done {
						break
					}
				}
				up, err := handshake.Check(r.Request(), &handshake.ServerOptions{})
				if err != nil {
					return
				}
				resp, _ := up.AppendResponse(nil, nil)
				nc.Write(resp)
				act(nc)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A server that announces the largest message and sends one byte costs a
// dialled client a small constant, not the announced size.
func TestClientMemoryFollowsBytesReceived(t *testing.T) {
	const conns = 20
	release := make(chan struct{})
	url := hostileServer(t, func(nc net.Conn) {
		h := wsframe.AppendHeader(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: wsconn.DefaultMaxMessageSize})
		nc.Write(append(h, 0xAA))
		<-release
	})
	defer close(release)
	before := liveHeap()
	var wg sync.WaitGroup
	for range conns {
		c := dial(t, url, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.ReadMessage() // ends when the test closes the connection
		}()
	}
	time.Sleep(300 * time.Millisecond) // every client has read its byte
	per := (int64(liveHeap()) - int64(before)) / conns
	t.Logf("heap per client whose server announced %d bytes and sent 1: %d bytes", wsconn.DefaultMaxMessageSize, per)
	if per > 64<<10 {
		t.Errorf("a client holds %d bytes for a message announced but not sent", per)
	}
}

// Messages ReadMessage returns are the caller's: two connections read 200
// messages each while traffic goes on, every kept message stays as it was
// (nothing reuses it, and no other connection's bytes show up in it).
func TestReadMessageIsOwned(t *testing.T) {
	s := startServer(t, server.Options{})
	const n = 200
	var wg sync.WaitGroup
	for id := range 2 {
		c := dial(t, s.url, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var kept [][]byte
			for i := range n {
				size := 100 + (i*37)%6000 // whole in the read buffer, and not
				msg := bytes.Repeat([]byte(fmt.Sprintf("c%d-m%03d;", id, i)), size/8)
				if err := c.WriteMessage(wsframe.OpBinary, msg); err != nil {
					t.Error(err)
					return
				}
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Error(err)
					return
				}
				kept = append(kept, got)
			}
			for i, got := range kept {
				size := 100 + (i*37)%6000
				if want := bytes.Repeat([]byte(fmt.Sprintf("c%d-m%03d;", id, i)), size/8); !bytes.Equal(got, want) {
					t.Errorf("connection %d: kept message %d changed: %.40q", id, i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A server that floods pings and never reads: a read with a context still
// ends with the context, since the Pongs never make a read wait for the
// write side.
func TestReadContextWithPingFloodAndNoReader(t *testing.T) {
	url := hostileServer(t, func(nc net.Conn) {
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		ping := wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpPing}, bytes.Repeat([]byte("p"), 125))
		flood := bytes.Repeat(ping, 256)
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := nc.Write(flood); err != nil {
				return
			}
		}
	})
	c, err := wsconn.Dial(context.Background(), url, &wsconn.DialOptions{Options: wsconn.Options{WriteTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessageContext(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadMessageContext outlived its context: a read waited on the write side")
	}
}

// The peer's Close is reported by the read call as soon as it arrives, even
// when the server keeps TCP open afterwards; waiting for the TCP end
// happens in the background.
func TestPeerCloseReportedAtOnce(t *testing.T) {
	url := hostileServer(t, func(nc net.Conn) {
		payload, _ := wsframe.AppendClose(nil, wsframe.CloseGoingAway, "later")
		nc.Write(wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, payload))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, nc) // keeps TCP open until the client closes it
	})
	c, err := wsconn.Dial(context.Background(), url, &wsconn.DialOptions{Options: wsconn.Options{CloseTimeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		done <- err
	}()
	select {
	case err := <-done:
		var ce *wsconn.CloseError
		if !errors.As(err, &ce) || ce.Code != wsframe.CloseGoingAway || ce.Reason != "later" {
			t.Errorf("read ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's Close was not reported while the peer kept TCP open")
	}
}

// Misuse of Close fails the call and leaves the connection usable.
func TestCloseMisuseKeepsTheConnection(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	for _, bad := range []struct {
		code   wsframe.CloseCode
		reason string
	}{{999, ""}, {wsframe.CloseNoStatus, "x"}, {wsframe.CloseNormal, strings.Repeat("r", 124)}, {wsframe.CloseNormal, "\xff"}} {
		if err := c.Close(bad.code, bad.reason); err == nil {
			t.Errorf("Close(%d, %d bytes) accepted", bad.code, len(bad.reason))
		}
		if err := c.WriteMessage(wsframe.OpText, []byte("still open")); err != nil {
			t.Fatalf("after Close(%d, …) failed: %v", bad.code, err)
		}
		if _, got, err := c.ReadMessage(); err != nil || string(got) != "still open" {
			t.Fatalf("after Close(%d, …) failed: %q %v", bad.code, got, err)
		}
	}
}

// With default options, a 4 MiB message in 64-byte fragments (65,537
// frames) is accepted and echoed, both ways.
func TestManyFragmentsAccepted(t *testing.T) {
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	msg := bytes.Repeat([]byte("0123456789abcdef"), (4<<20)/16)
	// The fragments go out in one write (a frame per Write would make this
	// test a measure of syscalls).
	var frames []byte
	for i := 0; i < len(msg); i += 64 {
		op := wsframe.OpContinuation
		if i == 0 {
			op = wsframe.OpBinary
		}
		frames = wsframe.AppendFrame(frames, wsframe.Header{Opcode: op, Masked: true, Mask: [4]byte{byte(i), 1, 2, 3}}, msg[i:i+64])
	}
	frames = wsframe.AppendFrame(frames, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Masked: true}, nil)
	if _, err := c.NetConn().Write(frames); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("server echo of 65,537 fragments: %d bytes, %v", len(got), err)
	}

	// The client side: a server that sends it in 64-byte fragments.
	url := hostileServer(t, func(nc net.Conn) {
		var frames []byte
		for i := 0; i < len(msg); i += 64 {
			op := wsframe.OpContinuation
			if i == 0 {
				op = wsframe.OpBinary
			}
			frames = wsframe.AppendFrame(frames, wsframe.Header{Opcode: op}, msg[i:i+64])
		}
		nc.Write(wsframe.AppendFrame(frames, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation}, nil))
		time.Sleep(time.Second)
	})
	cc := dial(t, url, nil)
	if _, got, err := cc.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client reading 65,537 fragments: %d bytes, %v", len(got), err)
	}
}
