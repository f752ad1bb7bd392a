package handshake

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestAcceptKeyRFCVector(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
	if a := testing.AllocsPerRun(100, func() { AcceptKey("dGhlIHNhbXBsZSBub25jZQ==") }); a != 1 {
		t.Errorf("AcceptKey allocates %v times; only the result should", a)
	}
}

func parse(t *testing.T, s string) *Request {
	t.Helper()
	req, _, err := readAll(s, len(s), Limits{})
	if err != nil || req == nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return req
}

// edit returns goodRequest with one line replaced (or removed when with is
// empty) or, when line is not found, added.
func edit(line, with string) string {
	lines := strings.Split(strings.TrimSuffix(goodRequest, "\r\n\r\n"), "\r\n")
	found := false
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, line) {
			found = true
			if with == "" {
				continue
			}
			l = with
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, with)
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n"
}

func TestCheckRules(t *testing.T) {
	cases := []struct {
		name, in string
		rule     Rule
		status   int
	}{
		{"POST", edit("GET", "POST /chat HTTP/1.1"), ErrMethod, 400},
		{"HTTP/1.0", edit("GET", "GET /chat HTTP/1.0"), ErrVersion, 400},
		{"HTTP/0.9", edit("GET", "GET /chat HTTP/0.9"), ErrVersion, 400},
		{"absolute-form target", edit("GET", "GET ws://server.example.com/chat HTTP/1.1"), ErrTarget, 400},
		{"asterisk target", edit("GET", "GET * HTTP/1.1"), ErrTarget, 400},
		{"no Host", edit("Host:", ""), ErrHost, 400},
		{"two Hosts", edit("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13\r\nHost: other"), ErrHost, 400},
		{"no Upgrade", edit("Upgrade:", ""), ErrUpgrade, 400},
		{"Upgrade: h2c", edit("Upgrade:", "Upgrade: h2c"), ErrUpgrade, 400},
		{"no Connection", edit("Connection:", ""), ErrConnection, 400},
		{"Connection: close", edit("Connection:", "Connection: close"), ErrConnection, 400},
		{"no key", edit("Sec-WebSocket-Key:", ""), ErrKey, 400},
		{"short key", edit("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="), ErrKey, 400},
		{"key not base64", edit("Sec-WebSocket-Key:", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), ErrKey, 400},
		{"two keys", edit("Origin:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), ErrKey, 400},
		{"no version", edit("Sec-WebSocket-Version:", ""), ErrWebSocketVersion, 426},
		{"version 8", edit("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8"), ErrWebSocketVersion, 426},
		{"foreign Origin", edit("Origin:", "Origin: http://evil.example"), ErrOrigin, 403},
		{"Origin null", edit("Origin:", "Origin: null"), ErrOrigin, 403},
		{"protocol not a token", edit("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: a b"), ErrProtocols, 400},
		{"extensions malformed", edit("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; x=\"a b\""), ErrExtensions, 400},
	}
	for _, c := range cases {
		_, err := Check(parse(t, c.in), nil)
		var he *Error
		if !errors.As(err, &he) || he.Rule != c.rule || he.Status() != c.status {
			t.Errorf("%s: got %v, want %v (%d)", c.name, err, c.rule, c.status)
		}
	}
}

func TestCheckAcceptsAndAnswers(t *testing.T) {
	u, err := Check(parse(t, goodRequest), &ServerOptions{Protocols: []string{"superchat", "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Accept != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || u.Protocol != "superchat" || u.Deflate != nil {
		t.Fatalf("%+v", u)
	}
	b, err := u.AppendResponse(nil, Header{{"Server", "wsfsm"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: superchat\r\nServer: wsfsm\r\n\r\n"
	if string(b) != want {
		t.Errorf("response\n%q\nwant\n%q", b, want)
	}
	if _, err := u.AppendResponse(nil, Header{{"X", "a\r\nSet-Cookie: x"}}); err == nil {
		t.Error("header injection accepted")
	}
	// Lenient where clients differ: case of tokens, lists, no Origin.
	lenient := edit("Upgrade:", "upgrade: WebSocket")
	lenient = strings.Replace(lenient, "Origin: http://server.example.com\r\n", "", 1)
	if _, err := Check(parse(t, lenient), nil); err != nil {
		t.Errorf("lenient request: %v", err)
	}
}

func TestSubprotocolSelection(t *testing.T) {
	req := parse(t, goodRequest) // offers chat, superchat
	for _, c := range []struct {
		o    ServerOptions
		want string
		rule Rule
	}{
		{ServerOptions{}, "", 0},
		{ServerOptions{Protocols: []string{"mqtt"}}, "", 0},
		{ServerOptions{Protocols: []string{"mqtt", "chat", "superchat"}}, "chat", 0},
		{ServerOptions{SelectProtocol: func(o []string) string { return o[len(o)-1] }}, "superchat", 0},
		{ServerOptions{SelectProtocol: func([]string) string { return "mqtt" }}, "", ErrSelectedProtocol},
	} {
		u, err := Check(req, &c.o)
		switch {
		case c.rule != 0:
			if !errors.Is(err, c.rule) {
				t.Errorf("%+v: err %v, want %v", c.o.Protocols, err, c.rule)
			}
		case err != nil || u.Protocol != c.want:
			t.Errorf("%+v: %v %v, want %q", c.o.Protocols, u, err, c.want)
		}
	}
}

func TestOriginPolicies(t *testing.T) {
	req := parse(t, edit("Origin:", "Origin: https://app.example"))
	if _, err := Check(req, nil); !errors.Is(err, ErrOrigin) {
		t.Errorf("default policy: %v", err)
	}
	if _, err := Check(req, &ServerOptions{CheckOrigin: OriginAllowList("https://APP.example")}); err != nil {
		t.Errorf("allow-list: %v", err)
	}
	if _, err := Check(req, &ServerOptions{CheckOrigin: func(string, *Request) bool { return true }}); err != nil {
		t.Errorf("allow all: %v", err)
	}
}

func TestRejection(t *testing.T) {
	_, err := Check(parse(t, edit("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8")), nil)
	b := AppendRejection(nil, err)
	resp, rerr := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" || !resp.Close {
		t.Errorf("%d %v", resp.StatusCode, resp.Header)
	}
}

// The net/http bridge runs the same checks.
func TestFromHTTP(t *testing.T) {
	var got *Agreement
	var gotErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = Check(FromHTTP(r), &ServerOptions{CheckOrigin: func(string, *Request) bool { return true }})
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/chat?x=1", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotErr != nil || got.Accept != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || got.Request.Target != "/chat?x=1" {
		t.Fatalf("%+v %v", got, gotErr)
	}
	req.Header.Set("Sec-WebSocket-Version", "7")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !errors.Is(gotErr, ErrWebSocketVersion) {
		t.Errorf("bad version through net/http: %v", gotErr)
	}
}

func TestClientRoundTrip(t *testing.T) {
	u, _ := url.Parse("ws://server.example.com:8080/chat?room=1")
	offer := &DeflateParams{ClientMaxWindowBits: WindowBitsAny, ServerNoContextTakeover: true}
	c, err := NewClientRequest(u, ClientOptions{Origin: "http://server.example.com:8080", Protocols: []string{"chat", "superchat"},
		Deflate: offer, Header: Header{{"Authorization", "Bearer x"}}})
	if err != nil {
		t.Fatal(err)
	}
	req := parse(t, string(c.Head))
	if req.Target != "/chat?room=1" || req.Header.Get("Host") != "server.example.com:8080" || req.Header.Get("Authorization") != "Bearer x" {
		t.Fatalf("%+v", req)
	}
	up, err := Check(req, &ServerOptions{Protocols: []string{"superchat"}, Deflate: &DeflateConfig{ClientMaxWindowBits: 12}})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := up.AppendResponse(nil, nil)
	r := NewResponseReader(Limits{})
	if _, done, err := r.Feed(head); !done || err != nil {
		t.Fatal(done, err)
	}
	res, err := c.Check(r.Response())
	if err != nil {
		t.Fatal(err)
	}
	want := DeflateParams{ServerNoContextTakeover: true, ClientMaxWindowBits: 12}
	if res.Protocol != "superchat" || res.Deflate == nil || *res.Deflate != want {
		t.Fatalf("%+v %+v", res, res.Deflate)
	}
	c2, _ := NewClientRequest(u, ClientOptions{})
	if c2.Key == c.Key || !validKey(c2.Key) {
		t.Error("keys are not fresh 16-byte values")
	}
}

func TestClientRejectsBadResponses(t *testing.T) {
	u, _ := url.Parse("ws://h/")
	c, _ := NewClientRequest(u, ClientOptions{Protocols: []string{"chat"}, Deflate: &DeflateParams{}})
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + AcceptKey(c.Key) + "\r\n"
	for _, x := range []struct {
		head string
		rule Rule
	}{
		{"HTTP/1.1 403 Forbidden\r\n", ErrStatus},
		{strings.Replace(ok, "Upgrade: websocket", "Upgrade: h2c", 1), ErrResponseUpgrade},
		{strings.Replace(ok, "Connection: Upgrade", "Connection: close", 1), ErrResponseConnection},
		{strings.Replace(ok, AcceptKey(c.Key), AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), 1), ErrAccept},
		{ok + "Sec-WebSocket-Accept: " + AcceptKey(c.Key) + "\r\n", ErrAccept},
		{ok + "Sec-WebSocket-Protocol: mqtt\r\n", ErrUnofferedProtocol},
		{ok + "Sec-WebSocket-Protocol: chat, chat\r\n", ErrUnofferedProtocol},
		{ok + "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", ErrUnofferedExtension},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n", ErrUnofferedExtension},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n", ErrDeflateResponse},
		{ok + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n", ErrDeflateResponse},
	} {
		r := NewResponseReader(Limits{})
		if _, done, err := r.Feed([]byte(x.head + "\r\n")); !done || err != nil {
			t.Fatalf("%q: %v", x.head, err)
		}
		if _, err := c.Check(r.Response()); !errors.Is(err, x.rule) {
			t.Errorf("%q: %v, want %v", x.head, err, x.rule)
		}
	}
	if _, err := c.Check(&Response{Status: 101, Header: Header{{"Upgrade", "websocket"}, {"Connection", "upgrade"}, {"Sec-WebSocket-Accept", AcceptKey(c.Key)}}}); err != nil {
		t.Errorf("minimal good response: %v", err)
	}
}

func TestClientRequestErrors(t *testing.T) {
	for _, s := range []string{"http://h/", "ws:///x", "ws://h/#frag"} {
		u, _ := url.Parse(s)
		if _, err := NewClientRequest(u, ClientOptions{}); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	u, _ := url.Parse("wss://h")
	if c, err := NewClientRequest(u, ClientOptions{}); err != nil || !strings.HasPrefix(string(c.Head), "GET / HTTP/1.1\r\n") {
		t.Errorf("empty path: %v", err)
	}
	for _, o := range []ClientOptions{
		{Protocols: []string{"a b"}},
		{Header: Header{{"Sec-WebSocket-Key", "x"}}},
		{Header: Header{{"X", "a\nb"}}},
		{Origin: "http://a\r\nX: y"},
	} {
		if _, err := NewClientRequest(u, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
