package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// startEcho runs an echo server on a loopback port for the test's duration.
func startEcho(t testing.TB, o Options) *Server {
	t.Helper()
	return startServer(t, &Server{Options: o})
}

// startServer runs s on a loopback port for the test's duration; a nil
// Handler echoes, a nil Logf is quiet.
func startServer(t testing.TB, s *Server) *Server {
	t.Helper()
	onRuntime(s)
	if s.Options.Logf == nil {
		s.Options.Logf = func(string, ...any) {}
	}
	if s.Handler == nil {
		s.Handler = Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, data)
		}}
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
	for s.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	return s
}

const requestHead = "GET /echo HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dialRaw opens a TCP connection and completes the handshake by hand.
// switchingProtocols is the server's answer to requestHead.
const switchingProtocols = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

func dialRaw(t testing.TB, s *Server) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, requestHead, s.Addr())
	got := make([]byte, len(switchingProtocols))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != switchingProtocols {
		t.Fatalf("handshake answer %q, %v", got, err)
	}
	return nc
}

// frame is a client frame to send: masked, unless raw bytes are given.
type frame struct {
	op   wsframe.Opcode
	fin  bool
	data string
	raw  string // sent as is when set
}

func (f frame) bytes() []byte {
	if f.raw != "" {
		return []byte(f.raw)
	}
	return wsframe.AppendFrame(nil, wsframe.Header{Fin: f.fin, Opcode: f.op, Masked: true, Mask: [4]byte{0xA1, 0xB2, 0xC3, 0xD4}}, []byte(f.data))
}

func text(s string) frame    { return frame{op: wsframe.OpText, fin: true, data: s} }
func binary_(s string) frame { return frame{op: wsframe.OpBinary, fin: true, data: s} }
func closeFrame(code uint16, reason string) frame {
	return frame{op: wsframe.OpClose, fin: true, data: string(binary.BigEndian.AppendUint16(nil, code)) + reason}
}

// readReply reads server frames until the server closes TCP (or the
// deadline), and renders them one per line, ending with "EOF" when the
// server closed the connection.
func readReply(t testing.TB, nc net.Conn, wait time.Duration) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(wait))
	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient, MaxPayload: 1 << 30})
	var out strings.Builder
	var hdr wsframe.Header
	var payload []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := nc.Read(buf)
		chunk := buf[:n]
		for {
			ev, k, perr := p.Next(chunk)
			if perr != nil {
				t.Fatalf("server sent a bad frame: %v", perr)
			}
			chunk = chunk[k:]
			if ev.Kind == wsframe.TokenNone {
				break
			}
			switch ev.Kind {
			case wsframe.TokenHeader:
				hdr, payload = *ev.Header, payload[:0]
			case wsframe.TokenPayload:
				payload = append(payload, ev.Payload...)
				if ev.End {
					out.WriteString(describe(hdr, payload) + "\n")
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				out.WriteString("EOF\n")
			} else {
				out.WriteString("timeout\n")
			}
			return out.String()
		}
	}
}

func describe(h wsframe.Header, p []byte) string {
	switch h.Opcode {
	case wsframe.OpClose:
		if len(p) < 2 {
			return fmt.Sprintf("close %d", len(p))
		}
		return fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(p), p[2:])
	case wsframe.OpText, wsframe.OpPing, wsframe.OpPong:
		if len(p) > 40 {
			return fmt.Sprintf("%s fin=%v %d bytes", h.Opcode, h.Fin, len(p))
		}
		return fmt.Sprintf("%s fin=%v %q", h.Opcode, h.Fin, p)
	}
	return fmt.Sprintf("%s fin=%v %d bytes", h.Opcode, h.Fin, len(p))
}

// Every row: the frames a client sends, then the exact reply, ending with
// the server closing TCP ("EOF") or still open ("timeout", for rows that
// only check an echo).
func TestConformance(t *testing.T) {
	def := startEcho(t, Options{})
	limited := startEcho(t, Options{Conn: wsconn.Options{MaxMessageSize: 1000, MaxFragments: 10}})
	big := strings.Repeat("x", 64<<10)
	cases := []struct {
		name   string
		srv    *Server
		send   []frame
		reply  string
		closed bool // true: the reply ends with the server closing TCP
	}{
		{"text echo", def, []frame{text("Hello")}, "text fin=true \"Hello\"", false},
		{"empty text", def, []frame{text("")}, "text fin=true \"\"", false},
		{"binary 64 KiB", def, []frame{binary_(big)}, "binary fin=true 65536 bytes", false},
		{"fragments with pings between", def, []frame{
			{op: wsframe.OpText, data: "Hel"}, {op: wsframe.OpPing, fin: true, data: "p1"},
			{op: wsframe.OpContinuation, data: "l"}, {op: wsframe.OpPing, fin: true, data: "p2"},
			{op: wsframe.OpContinuation, fin: true, data: "o"}},
			"pong fin=true \"p1\"\npong fin=true \"p2\"\ntext fin=true \"Hello\"", false},
		{"text split inside a code point", def, []frame{
			{op: wsframe.OpText, data: "caf\xC3"}, {op: wsframe.OpContinuation, fin: true, data: "\xA9!"}},
			"text fin=true \"café!\"", false},
		{"empty fragments", def, []frame{
			{op: wsframe.OpBinary}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation, fin: true, data: "z"}},
			"binary fin=true 1 bytes", false},
		{"unsolicited pong is ignored", def, []frame{{op: wsframe.OpPong, fin: true, data: "x"}, text("after")},
			"text fin=true \"after\"", false},
		{"125-byte ping", def, []frame{{op: wsframe.OpPing, fin: true, data: strings.Repeat("p", 125)}},
			"pong fin=true 125 bytes", false},
		// The close handshake.
		{"close 1000 echoed", def, []frame{closeFrame(1000, "bye")}, "close 1000 \"\"", true},
		{"close 4999 echoed", def, []frame{closeFrame(4999, "")}, "close 4999 \"\"", true},
		{"empty close answered empty", def, []frame{{op: wsframe.OpClose, fin: true}}, "close 0", true},
		{"data after close ignored", def, []frame{closeFrame(1001, ""), text("late")}, "close 1001 \"\"", true},
		// Failures: the Close with its code, then the server closes TCP.
		{"1-byte close", def, []frame{{op: wsframe.OpClose, fin: true, data: "\x03"}}, "close 1002 \"\"", true},
		{"close reason not UTF-8", def, []frame{closeFrame(1000, "\xC0\xAF")}, "close 1007 \"\"", true},
		{"unmasked frame", def, []frame{{raw: "\x81\x05Hello"}}, "close 1002 \"\"", true},
		{"reserved opcode", def, []frame{{op: 0x3, fin: true}}, "close 1002 \"\"", true},
		{"reserved control opcode", def, []frame{{op: 0xB, fin: true}}, "close 1002 \"\"", true},
		{"RSV1 without extension", def, []frame{{raw: "\xC1\x80\x00\x00\x00\x00"}}, "close 1002 \"\"", true},
		{"fragmented ping", def, []frame{{op: wsframe.OpPing, data: "x"}}, "close 1002 \"\"", true},
		{"126-byte ping", def, []frame{{op: wsframe.OpPing, fin: true, data: strings.Repeat("p", 126)}}, "close 1002 \"\"", true},
		{"64-bit length top bit", def, []frame{{raw: "\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, "close 1002 \"\"", true},
		{"continuation without message", def, []frame{{op: wsframe.OpContinuation, fin: true, data: "x"}}, "close 1002 \"\"", true},
		{"new message inside a message", def, []frame{{op: wsframe.OpText, data: "a"}, text("b")}, "close 1002 \"\"", true},
		{"invalid UTF-8 in one frame", def, []frame{text("ab\xED\xA0\x80")}, "close 1007 \"\"", true},
		{"frame over the limit", limited, []frame{binary_(strings.Repeat("x", 1001))}, "close 1009 \"\"", true},
		{"message over the limit in fragments", limited, []frame{
			{op: wsframe.OpBinary, data: strings.Repeat("x", 600)}, {op: wsframe.OpContinuation, fin: true, data: strings.Repeat("x", 600)}},
			"close 1009 \"\"", true},
		{"too many fragments", limited, []frame{{op: wsframe.OpBinary}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation},
			{op: wsframe.OpContinuation}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation},
			{op: wsframe.OpContinuation}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation}, {op: wsframe.OpContinuation}},
			"close 1009 \"\"", true},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		cases = append(cases, struct {
			name   string
			srv    *Server
			send   []frame
			reply  string
			closed bool
		}{fmt.Sprintf("close code %d", code), def, []frame{closeFrame(code, "")}, "close 1002 \"\"", true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc := dialRaw(t, c.srv)
			for _, f := range c.send {
				nc.Write(f.bytes())
			}
			wait := 300 * time.Millisecond
			if c.closed {
				wait = 3 * time.Second
			}
			want := c.reply + "\ntimeout\n"
			if c.closed {
				want = c.reply + "\nEOF\n"
			}
			if got := readReply(t, nc, wait); got != want {
				t.Errorf("reply\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Invalid UTF-8 in the middle of a long fragmented message fails before the
// last fragment is sent (fail fast).
func TestInvalidUTF8FailsBeforeTheLastFragment(t *testing.T) {
	s := startEcho(t, Options{})
	nc := dialRaw(t, s)
	nc.Write(frame{op: wsframe.OpText, data: strings.Repeat("a", 3000)}.bytes())
	nc.Write(frame{op: wsframe.OpContinuation, data: strings.Repeat("b", 1000) + "\xF4\x90" + strings.Repeat("c", 1000)}.bytes())
	// The last fragment is never sent: the reply must come anyway.
	if got := readReply(t, nc, 3*time.Second); got != "close 1007 \"\"\nEOF\n" {
		t.Errorf("reply %q", got)
	}
}

// A frame header announcing more than the limit is refused before its
// payload arrives.
func TestOversizeRefusedFromTheHeader(t *testing.T) {
	s := startEcho(t, Options{Conn: wsconn.Options{MaxMessageSize: 1000}})
	nc := dialRaw(t, s)
	nc.Write([]byte("\x82\xFF\x00\x00\x00\x01\x00\x00\x00\x00\x01\x02\x03\x04")) // 4 GiB, no payload
	if got := readReply(t, nc, 3*time.Second); got != "close 1009 \"\"\nEOF\n" {
		t.Errorf("reply %q", got)
	}
}

func TestHandshakeRejections(t *testing.T) {
	s := startServer(t, &Server{HandshakeTimeout: 300 * time.Millisecond})
	host := s.Addr().String()
	good := fmt.Sprintf(requestHead, host)
	cases := []struct {
		name, req, status string
		extra             string
	}{
		{"version 8", strings.Replace(good, "Version: 13", "Version: 8", 1), "426", "Sec-WebSocket-Version: 13"},
		{"foreign origin", strings.Replace(good, "\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n", 1), "403", ""},
		{"same origin", strings.Replace(good, "\r\n\r\n", "\r\nOrigin: http://"+host+"\r\n\r\n", 1), "101", ""},
		{"POST", strings.Replace(good, "GET", "POST", 1), "400", ""},
		{"HTTP/1.0", strings.Replace(good, "HTTP/1.1", "HTTP/1.0", 1), "400", ""},
		{"no key", strings.Replace(good, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), "400", ""},
		{"absolute-form", strings.Replace(good, "/echo", "http://"+host+"/echo", 1), "400", ""},
		{"oversize head", strings.Replace(good, "\r\n\r\n", "\r\n"+strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 9)+"\r\n", 1), "431", ""},
		{"too many headers", strings.Replace(good, "\r\n\r\n", "\r\n"+strings.Repeat("X: y\r\n", 101)+"\r\n", 1), "431", ""},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "400", ""},
		{"slow head", "GET /echo HTTP/1.1\r\nHost: x\r\n", "408", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(3 * time.Second))
			nc.Write([]byte(c.req))
			var resp []byte
			buf := make([]byte, 4096)
			for {
				n, err := nc.Read(buf)
				resp = append(resp, buf[:n]...)
				if err != nil || (c.status == "101" && bytes.Contains(resp, []byte("\r\n\r\n"))) {
					break
				}
			}
			if !strings.HasPrefix(string(resp), "HTTP/1.1 "+c.status+" ") {
				t.Fatalf("answer %q", resp)
			}
			if !strings.Contains(string(resp), c.extra) {
				t.Errorf("answer lacks %q: %q", c.extra, resp)
			}
		})
	}
}

// Bytes sent right behind the request head are the first frames.
func TestFramesInTheHandshakePacket(t *testing.T) {
	s := startEcho(t, Options{})
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(append([]byte(fmt.Sprintf(requestHead, s.Addr())), text("early").bytes()...))
	head := make([]byte, len("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
	if _, err := io.ReadFull(nc, head); err != nil {
		t.Fatal(err)
	}
	got := readReply(t, nc, 500*time.Millisecond)
	if !strings.Contains(got, "text fin=true \"early\"") {
		t.Errorf("reply %q", got)
	}
}
