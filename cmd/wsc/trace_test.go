package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsframe"
)

// badServer answers the opening handshake, sends frames (which may break
// a rule) and returns what the client sent after the handshake.
func badServer(t *testing.T, frames []byte) (addr string, sent <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		r := handshake.NewRequestReader(handshake.Limits{})
		buf := make([]byte, 4096)
		var rest []byte
		for done := false; !done; {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			if rest, done, err = r.Feed(buf[:n]); err != nil {
				return
			}
		}
		up, err := handshake.Check(r.Request(), &handshake.ServerOptions{})
		if err != nil {
			return
		}
		resp, _ := up.AppendResponse(nil, nil)
		nc.Write(append(resp, frames...))
		after, _ := io.ReadAll(nc)
		ch <- append(append([]byte(nil), rest...), after...)
	}()
	return ln.Addr().String(), ch
}

func frame(h wsframe.Header, p string) []byte {
	h.Length = int64(len(p))
	return wsframe.AppendFrame(nil, h, []byte(p))
}

// TestTraceRuleBrokenByServer: -vv shows each frame, then the rule the
// server broke with the byte that proved it, and the Close 1002 sent.
func TestTraceRuleBrokenByServer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		frames []byte
		rule   string
		code   wsframe.CloseCode
	}{
		// A server must not mask (RFC 6455 §5.1): byte 1 of the second
		// frame (stream offset 7 + 1) has the MASK bit.
		{"masked", append(frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, "hello"),
			frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, "x")...),
			`(?m)^wsc: < rule ErrMaskedFrame at byte 8: frame from the server is masked \(RFC 6455 §5\.1\); close code 1002$`, 1002},
		// RSV1 without an extension: byte 0 of the second frame.
		{"rsv", append(frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, "hello"),
			frame(wsframe.Header{Fin: true, Rsv: wsframe.RSV1, Opcode: wsframe.OpText}, "x")...),
			`(?m)^wsc: < rule ErrReservedBits at byte 7: .*\(RFC 6455 §5\.2\); close code 1002$`, 1002},
		// Above the grammar: text that is not UTF-8, found by wsconn's
		// session (the trace's parser only knows frames); byte 10 is the
		// second payload byte of the second frame.
		{"utf8", append(frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, "hello"),
			frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, "a\xffb")...),
			`(?m)^wsc: the peer broke a rule: ErrInvalidUTF8 at byte 10: text is not valid UTF-8 \(RFC 6455 §8\.1\); sent Close 1007$`, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, sent := badServer(t, tc.frames)
			r := wsc(t, openStdin(t, ""), "-vv", "ws://"+addr+"/")
			wantCode(t, r, 1)
			wantStdout(t, r, "hello\n")
			wantStderr(t, r, `(?m)^wsc: < @0 fin=1 rsv=000 op=text unmasked len=5 "hello"$`)
			wantStderr(t, r, tc.rule)
			wantStderr(t, r, fmt.Sprintf(`(?m)^wsc: > @0 fin=1 rsv=000 op=close masked=[0-9a-f]{8} len=2 code=%s$`, regexp.QuoteMeta(tc.code.String())))
			wantStderr(t, r, fmt.Sprintf(`the peer broke a rule: .*; sent Close %d`, tc.code))
			// The Close really went out, with 1002.
			got := <-sent
			p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleServer})
			var h wsframe.Header
			var payload []byte
			for len(got) > 0 {
				ev, n, err := p.Next(got)
				if err != nil {
					t.Fatal(err)
				}
				got = got[n:]
				switch ev.Kind {
				case wsframe.TokenHeader:
					h = *ev.Header
				case wsframe.TokenPayload:
					payload = append(payload, ev.Payload...)
				}
				if ev.Kind == wsframe.TokenNone {
					break
				}
			}
			code, _, err := wsframe.ParseClose(payload)
			if h.Opcode != wsframe.OpClose || err != nil || code != tc.code {
				t.Fatalf("client sent %v with code %v (%v), want Close %d", h, code, err, tc.code)
			}
		})
	}
}

// TestTraceRuleBrokenByClient: the server's -vv names the client (ids) and
// the rule: a client frame without a mask.
func TestTraceRuleBrokenByClient(t *testing.T) {
	t.Parallel()
	s := startWsc(t, "-vv")
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /chat HTTP/1.1\r\nHost: " + s.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	nc.Write([]byte(req))
	nc.Write(frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, Mask: [4]byte{9, 9, 9, 9}}, "ok"))
	nc.Write(frame(wsframe.Header{Fin: true, Opcode: wsframe.OpBinary}, "bad"))
	io.ReadAll(nc)
	for _, p := range []string{
		`(?m)^wsc: \[1\] < GET /chat HTTP/1\.1$`,
		`(?m)^wsc: \[1\] > HTTP/1\.1 101 Switching Protocols$`,
		`(?m)^wsc: \[1\] < @0 fin=1 rsv=000 op=text masked=09090909 len=2 "ok"$`,
		`(?m)^wsc: \[1\] < rule ErrUnmaskedFrame at byte 9: frame from the client is not masked \(RFC 6455 §5\.1\); close code 1002$`,
		`(?m)^wsc: \[1\] > @0 fin=1 rsv=000 op=close unmasked len=2 code=1002 \(protocol error\)$`,
	} {
		waitFor(t, s.stderr, p)
	}
	if l := s.line(t); l != "ok" {
		t.Fatalf("stdout %q", l)
	}
	if strings.Contains(s.stderr.String(), "bad") {
		t.Fatalf("the bad frame's payload was reported:\n%s", s.stderr)
	}
}
