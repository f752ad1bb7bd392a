// Package fragments compares assembling a fragmented message (issue 10):
// a 4 MiB binary message sent in fragments of 64 B, 4 KiB, 64 KiB and
// 256 KiB (and, for reference, in one frame), received as one message by
// a wsfsm server connection (server.Upgrade, then Conn.ReadMessage) and by
// a gorilla/websocket one (Upgrader.Upgrade, then Conn.ReadMessage), both
// upgraded inside net/http. The client is raw TCP writing the same
// pre-built masked frames for both, over loopback, on a goroutine of its
// own. One op is one message; besides time, the benchmark reports
// allocations and GC cycles per message.
package fragments

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsfsm/wsfsm/bench/internal/procstat"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

const msgSize = 4 << 20

// fragments are the fragment sizes; msgSize means one frame.
var fragments = []int{64, 4 << 10, 64 << 10, 256 << 10, msgSize}

func name(n int) string {
	switch {
	case n == msgSize:
		return "whole"
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// message returns the payload and its frames: the first Binary, the rest
// Continuation, the last with FIN, each masked as a client sends it.
func message(frag int) (payload, stream []byte) {
	payload = make([]byte, msgSize)
	for i := range payload {
		payload[i] = byte(i*31 + i>>10)
	}
	for off := 0; off < msgSize; off += frag {
		op := wsframe.OpContinuation
		if off == 0 {
			op = wsframe.OpBinary
		}
		end := min(off+frag, msgSize)
		h := wsframe.Header{Fin: end == msgSize, Opcode: op, Masked: true, Mask: [4]byte{9, byte(off), byte(off >> 8), byte(off >> 16)}}
		stream = wsframe.AppendFrame(stream, h, payload[off:end])
	}
	return payload, stream
}

// reader is one library's server connection: read reads a whole message.
type reader struct {
	read  func() ([]byte, error)
	close func()
}

// wsfsmUpgrade upgrades with the default options but the message limit
// (16 MiB, as for gorilla): the default fragment limit must let every case
// through.
func wsfsmUpgrade(w http.ResponseWriter, r *http.Request) (*wsconn.Conn, error) {
	return server.Upgrade(w, r, &server.Options{
		Conn:        wsconn.Options{MaxMessageSize: 16 << 20},
		CheckOrigin: func(string, *handshake.Request) bool { return true },
	})
}

var libs = []struct {
	name    string
	upgrade func(w http.ResponseWriter, r *http.Request) (reader, error)
}{
	{"wsfsm", func(w http.ResponseWriter, r *http.Request) (reader, error) {
		c, err := wsfsmUpgrade(w, r)
		if err != nil {
			return reader{}, err
		}
		return reader{
			read:  func() ([]byte, error) { _, p, err := c.ReadMessage(); return p, err },
			close: func() { c.CloseNow() },
		}, nil
	}},
	{"wsfsm-append", func(w http.ResponseWriter, r *http.Request) (reader, error) {
		c, err := wsfsmUpgrade(w, r)
		if err != nil {
			return reader{}, err
		}
		var buf []byte
		return reader{
			read: func() ([]byte, error) {
				_, p, err := c.AppendMessage(buf[:0])
				buf = p
				return p, err
			},
			close: func() { c.CloseNow() },
		}, nil
	}},
	{"gorilla", func(w http.ResponseWriter, r *http.Request) (reader, error) {
		u := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return reader{}, err
		}
		c.SetReadLimit(16 << 20)
		return reader{
			read:  func() ([]byte, error) { _, p, err := c.ReadMessage(); return p, err },
			close: func() { c.Close() },
		}, nil
	}},
}

// pair starts an HTTP server whose handler upgrades with lib, connects a
// raw client that writes stream over and over, and returns the server's
// connection. Everything stops at the end of the test.
func pair(tb testing.TB, upgrade func(http.ResponseWriter, *http.Request) (reader, error), stream []byte) reader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	conns := make(chan reader, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrade(w, r)
		if err != nil {
			return
		}
		conns <- c
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", ln.Addr())
	br := bufio.NewReader(nc)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		tb.Fatalf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	nc.SetDeadline(time.Time{})
	var c reader
	select {
	case c = <-conns:
	case <-time.After(5 * time.Second):
		tb.Fatal("no upgraded connection")
	}
	tb.Cleanup(c.close)
	go func() {
		for {
			if _, err := nc.Write(stream); err != nil {
				return
			}
		}
	}()
	return c
}

// Every library receives the message whole and right, in every fragment
// size.
func TestAssemble(t *testing.T) {
	for _, frag := range fragments {
		payload, stream := message(frag)
		for _, lib := range libs {
			c := pair(t, lib.upgrade, stream)
			for i := 0; i < 2; i++ {
				p, err := c.read()
				if err != nil {
					t.Fatalf("%s %s: %v", lib.name, name(frag), err)
				}
				if !bytes.Equal(p, payload) {
					t.Fatalf("%s %s: message %d differs", lib.name, name(frag), i)
				}
			}
		}
	}
}

func BenchmarkAssemble(b *testing.B) {
	for _, frag := range fragments {
		_, stream := message(frag)
		for _, lib := range libs {
			b.Run(lib.name+"/"+name(frag), func(b *testing.B) {
				c := pair(b, lib.upgrade, stream)
				if _, err := c.read(); err != nil { // the buffers a connection keeps are grown once
					b.Fatal(err)
				}
				b.SetBytes(msgSize)
				b.ReportAllocs()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				defer procstat.Watch(b)()
				n := 0
				for b.Loop() {
					p, err := c.read()
					if err != nil {
						b.Fatal(err)
					}
					if len(p) != msgSize {
						b.Fatalf("message of %d bytes", len(p))
					}
					n++
				}
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(n), "gc/op")
			})
		}
	}
}
