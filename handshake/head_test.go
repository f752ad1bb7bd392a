package handshake

import (
	"errors"
	"strings"
	"testing"
)

const goodRequest = "GET /chat?room=1 HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: keep-alive, Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Origin: http://server.example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// readAll feeds s in chunks of size n and returns the request, the bytes
// after the head, and the error.
func readAll(s string, n int, l Limits) (*Request, string, error) {
	r := NewRequestReader(l)
	var rest []byte
	for i := 0; i < len(s); i += n {
		var done bool
		var err error
		rest, done, err = r.Feed([]byte(s[i:min(i+n, len(s))]))
		if err != nil {
			return nil, "", err
		}
		if done {
			tail := string(rest) + s[min(i+n, len(s)):]
			return r.Request(), tail, nil
		}
	}
	return nil, "", nil
}

func TestRequestAnySplit(t *testing.T) {
	frames := "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
	in := goodRequest + frames
	for n := 1; n <= len(in); n++ {
		req, rest, err := readAll(in, n, Limits{})
		if err != nil || req == nil {
			t.Fatalf("chunks of %d: %v", n, err)
		}
		if rest != frames {
			t.Fatalf("chunks of %d: rest %q", n, rest)
		}
		if req.Method != "GET" || req.Target != "/chat?room=1" || req.ProtoMajor != 1 || req.ProtoMinor != 1 {
			t.Fatalf("chunks of %d: %+v", n, req)
		}
		if len(req.Header) != 7 || req.Header.Get("sec-websocket-key") != "dGhlIHNhbXBsZSBub25jZQ==" {
			t.Fatalf("chunks of %d: header %q", n, req.Header)
		}
	}
}

func TestHeaderValues(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Pad: \t v  w \t\r\nConnection: a,, b ,Upgrade\r\nconnection: c\r\n\r\n"
	req, _, err := readAll(in, 3, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if v := req.Header.Get("X-Pad"); v != "v  w" {
		t.Errorf("X-Pad %q: leading and trailing whitespace are not part of the value", v)
	}
	if v := req.Header.Values("x-empty"); len(v) != 1 || v[0] != "" {
		t.Errorf("X-Empty %q", v)
	}
	if got := strings.Join(req.Header.List("Connection"), "|"); got != "a|b|Upgrade|c" {
		t.Errorf("Connection list %q", got)
	}
	if !req.Header.HasToken("CONNECTION", "upgrade") {
		t.Error("token comparison is case-insensitive")
	}
}

// CVE-2023-43669 (tungstenite) re-parsed the buffered head on every chunk.
// Here a maximum-size head fed a byte per call is stepped over once: the
// machine's step count equals the bytes fed, not their square.
func TestWorkIsLinearByteByByte(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: h\r\n"
	line := "X-Filler: " + strings.Repeat("a", 50) + "\r\n"
	for len(head)+len(line)+2 <= DefaultMaxHeadSize {
		head += line
	}
	head += "\r\n"
	r := NewRequestReader(Limits{MaxHeaders: 1000})
	for i := 0; i < len(head); i++ {
		_, done, err := r.Feed([]byte{head[i]})
		if err != nil {
			t.Fatal(err)
		}
		if done != (i == len(head)-1) {
			t.Fatalf("done=%v at byte %d of %d", done, i, len(head))
		}
	}
	if r.Steps() != len(head) {
		t.Fatalf("%d steps for %d bytes", r.Steps(), len(head))
	}
}

func TestBadHeads(t *testing.T) {
	big := "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 200) + "\r\n"
	cases := []struct {
		name, in string
		rule     Rule
		status   int
	}{
		{"garbage", "\x16\x03\x01\x02\x00", ErrRequestLine, 400},
		{"empty method", " / HTTP/1.1\r\n\r\n", ErrRequestLine, 400},
		{"two spaces", "GET  / HTTP/1.1\r\n\r\n", ErrRequestLine, 400},
		{"no version", "GET /\r\n\r\n", ErrRequestLine, 400},
		{"lower-case version", "GET / http/1.1\r\n\r\n", ErrRequestLine, 400},
		{"version letters", "GET / HTTP/x.1\r\n\r\n", ErrRequestLine, 400},
		{"bare LF after request line", "GET / HTTP/1.1\nHost: h\n\n", ErrRequestLine, 400},
		{"CR without LF", "GET / HTTP/1.1\r\rHost: h\r\n\r\n", ErrLineEnding, 400},
		{"bare LF after a header", "GET / HTTP/1.1\r\nHost: h\n\r\n", ErrLineEnding, 400},
		{"bare LF as empty line", "GET / HTTP/1.1\r\nHost: h\r\n\n", ErrLineEnding, 400},
		{"obs-fold", "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", ErrObsFold, 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", ErrSpaceBeforeColon, 400},
		{"missing colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", ErrHeaderSyntax, 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", ErrHeaderSyntax, 400},
		{"NUL in name", "GET / HTTP/1.1\r\nHo\x00st: h\r\n\r\n", ErrHeaderSyntax, 400},
		{"NUL in target", "GET /\x00 HTTP/1.1\r\n\r\n", ErrRequestLine, 400},
		{"too many headers", big, ErrTooManyHeaders, 431},
		{"head too large", "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("b", 4000) + "\r\nX-B: " + strings.Repeat("b", 4000) + "\r\nX-C: " + strings.Repeat("b", 1000) + "\r\n\r\n", ErrHeadTooLarge, 431},
		{"line too long", "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("b", 5000), ErrLineTooLong, 431},
		// Found by FuzzRequestHead: the limit is crossed before the NUL, so
		// the line is too long however the bytes arrive.
		{"line too long, then a NUL", "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("b", 4100) + "\x00\r\n\r\n", ErrLineTooLong, 431},
	}
	for _, c := range cases {
		var first string
		for _, n := range []int{1, 7, len(c.in)} {
			_, _, err := readAll(c.in, n, Limits{})
			var he *Error
			if !errors.As(err, &he) || he.Rule != c.rule || he.Status() != c.status {
				t.Errorf("%s (chunks of %d): got %v, want %v (%d)", c.name, n, err, c.rule, c.status)
				continue
			}
			// The same error, detail and position included, for every split.
			if first == "" {
				first = err.Error()
			} else if err.Error() != first {
				t.Errorf("%s (chunks of %d): %q, with chunks of 1: %q", c.name, n, err, first)
			}
		}
	}
}

func TestIncompleteIsNotAnError(t *testing.T) {
	for i := 0; i < len(goodRequest); i++ {
		r := NewRequestReader(Limits{})
		if _, done, err := r.Feed([]byte(goodRequest[:i])); done || err != nil {
			t.Fatalf("prefix of %d: done=%v err=%v", i, done, err)
		}
	}
}

func TestErrorsAreSticky(t *testing.T) {
	r := NewRequestReader(Limits{})
	_, _, err := r.Feed([]byte("POST\x01"))
	_, _, err2 := r.Feed([]byte(" / HTTP/1.1\r\n\r\n"))
	if err == nil || err2 != err {
		t.Fatalf("%v then %v", err, err2)
	}
	if !strings.Contains(err.Error(), `at byte 4 after "POST", got "\x01"`) {
		t.Errorf("error does not locate the byte: %v", err)
	}
}

func TestResponseHead(t *testing.T) {
	in := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"
	for n := 1; n <= len(in); n++ {
		r := NewResponseReader(Limits{})
		var rest []byte
		for i := 0; i < len(in); i += n {
			var done bool
			var err error
			if rest, done, err = r.Feed([]byte(in[i:min(i+n, len(in))])); err != nil {
				t.Fatal(err)
			} else if done {
				rest = append(rest, in[min(i+n, len(in)):]...)
				break
			}
		}
		resp := r.Response()
		if resp == nil || resp.Status != 101 || resp.Reason != "Switching Protocols" || string(rest) != "\x81\x00" {
			t.Fatalf("chunks of %d: %+v rest %q", n, resp, rest)
		}
	}
	for _, in := range []string{"HTTP/1.1 101\r\n\r\n", "HTTP/1.1 101 \r\n\r\n"} {
		r := NewResponseReader(Limits{})
		if _, done, err := r.Feed([]byte(in)); !done || err != nil || r.Response().Status != 101 || r.Response().Reason != "" {
			t.Errorf("%q: done=%v err=%v", in, done, err)
		}
	}
	for _, in := range []string{"HTTP/1.1 1010 x\r\n\r\n", "HTTP/1.1 10 x\r\n\r\n", "HTTPS/1.1 101 x\r\n\r\n", "HTTP/1.1 101 a\x00\r\n\r\n"} {
		_, _, err := NewResponseReader(Limits{}).Feed([]byte(in))
		if !errors.Is(err, ErrStatusLine) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// The limits are transitions of the machine like a syntax error: the
// reader is in the limit's error state afterwards, and that state is dead
// by construction (with the sticky error cleared, it still consumes
// nothing).
func TestLimitsAreDeadErrorStates(t *testing.T) {
	cases := []struct {
		reader func(Limits) *HeadReader
		lim    Limits
		head   string
		rule   Rule
		state  string
	}{
		{NewRequestReader, Limits{MaxHeaders: 2}, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", ErrTooManyHeaders, "RequestHead.TooManyHeaders"},
		{NewRequestReader, Limits{MaxHeadSize: 20}, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", ErrHeadTooLarge, "RequestHead.HeadTooLarge"},
		{NewRequestReader, Limits{MaxLineLength: 10}, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", ErrLineTooLong, "RequestHead.LineTooLong"},
		{NewResponseReader, Limits{MaxHeadSize: 20}, "HTTP/1.1 101 Switching Protocols\r\n\r\n", ErrHeadTooLarge, "ResponseHead.HeadTooLarge"},
		{NewResponseReader, Limits{MaxLineLength: 10}, "HTTP/1.1 101 Switching Protocols\r\n\r\n", ErrLineTooLong, "ResponseHead.LineTooLong"},
	}
	for _, c := range cases {
		r := c.reader(c.lim)
		_, _, err := r.Feed([]byte(c.head))
		if !errors.Is(err, c.rule) {
			t.Errorf("%s: error %v, want %v", c.state, err, c.rule)
			continue
		}
		if r.State() != c.state {
			t.Errorf("state after %v: %s, want %s", c.rule, r.State(), c.state)
		}
		steps := r.Steps()
		r.err = nil
		if _, done, err := r.Feed([]byte("\r\n\r\n")); !errors.Is(err, c.rule) || done || r.Steps() != steps {
			t.Errorf("%s with the error cleared: done %v, error %v, %d more steps", c.state, done, err, r.Steps()-steps)
		}
	}
}
