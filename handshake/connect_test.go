package handshake

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/internal/seeded"
)

func connectProperties(t *testing.T) *gopter.Properties {
	return gopter.NewProperties(seeded.Parameters(t, "./handshake", 1000))
}

// sharedFields is what the two forms of a handshake share: the fields
// a client chose and the server's options.
type sharedFields struct {
	Versions   []string
	Origin     string
	Offered    []string
	Extensions []string
	Server     []string
}

func (s sharedFields) String() string {
	return fmt.Sprintf("versions %q origin %q offered %q extensions %q server %q", s.Versions, s.Origin, s.Offered, s.Extensions, s.Server)
}

func (s sharedFields) header() Header {
	var h Header
	for _, v := range s.Versions {
		h = append(h, Field{Name: "Sec-WebSocket-Version", Value: v})
	}
	if s.Origin != "" {
		h = append(h, Field{Name: "Origin", Value: s.Origin})
	}
	if len(s.Offered) > 0 {
		h = append(h, Field{Name: "Sec-WebSocket-Protocol", Value: strings.Join(s.Offered, ", ")})
	}
	for _, e := range s.Extensions {
		h = append(h, Field{Name: "Sec-WebSocket-Extensions", Value: e})
	}
	return h
}

// getForm is the HTTP/1.1 handshake with these fields; connectForm the
// RFC 8441 one, as FromHTTP builds it from net/http's HTTP/2 request.
func (s sharedFields) getForm() *Request {
	h := Header{{Name: "Host", Value: "example.com"}, {Name: "Upgrade", Value: "websocket"}, {Name: "Connection", Value: "Upgrade"},
		{Name: "Sec-WebSocket-Key", Value: "dGhlIHNhbXBsZSBub25jZQ=="}}
	return &Request{Method: "GET", Target: "/chat", ProtoMajor: 1, ProtoMinor: 1, Header: append(h, s.header()...)}
}

func (s sharedFields) connectForm() *Request {
	h := Header{{Name: "Host", Value: "example.com"}, {Name: ProtocolPseudoHeader, Value: "websocket"}}
	return &Request{Method: "CONNECT", Target: "/chat", ProtoMajor: 2, Header: append(h, s.header()...)}
}

func genShared() gopter.Gen {
	return gopter.CombineGens(
		gen.SliceOfN(2, gen.OneConstOf("13", "8", "", "13, 8", "14")).Map(func(v []string) []string { return v[:1+len(v[0])%2] }),
		gen.OneConstOf("", "http://example.com", "https://example.com", "http://evil.example", "null"),
		gen.SliceOf(gen.OneConstOf("chat", "superchat", "v2.json", "a b", "x")),
		gen.SliceOf(gen.OneConstOf("permessage-deflate", "x-foo; a=1", "permessage-deflate; client_max_window_bits", ";;", "y, z")),
		gen.SliceOf(gen.OneConstOf("chat", "v2.json", "other")),
	).Map(func(v []any) sharedFields {
		return sharedFields{Versions: v[0].([]string), Origin: v[1].(string), Offered: v[2].([]string), Extensions: v[3].([]string), Server: v[4].([]string)}
	})
}

// The CONNECT form goes through the same rules as the HTTP/1.1 form: for
// any fields and server options, CheckConnect fails with the rule Check
// fails with, or both agree on the subprotocol and extensions.
func TestCheckConnectAgreesWithCheck(t *testing.T) {
	props := connectProperties(t)
	props.Property("CheckConnect(connect form) == Check(GET form)", prop.ForAll(func(s sharedFields) string {
		var origins []*Request
		o := &ServerOptions{Protocols: s.Server, Deflate: &DeflateConfig{}}
		o.CheckOrigin = func(origin string, r *Request) bool {
			origins = append(origins, r)
			return SameOrigin(origin, r)
		}
		want, werr := Check(s.getForm(), o)
		cf := s.connectForm()
		got, gerr := CheckConnect(cf, o)
		var wr, gr Rule
		errors.As(werr, &wr)
		errors.As(gerr, &gr)
		switch {
		case (werr == nil) != (gerr == nil) || wr != gr:
			return fmt.Sprintf("Check: %v; CheckConnect: %v", werr, gerr)
		case werr != nil:
			return ""
		case got.Protocol != want.Protocol:
			return fmt.Sprintf("protocol %q, Check chose %q", got.Protocol, want.Protocol)
		case fmt.Sprint(got.ResponseFields()) != fmt.Sprint(want.ResponseFields()):
			return fmt.Sprintf("response fields %v, Check's %v", got.ResponseFields(), want.ResponseFields())
		case got.Accept != "" || got.Request != cf:
			return fmt.Sprintf("Accept %q, Request %p (want none, %p)", got.Accept, got.Request, cf)
		case len(origins) != 2 || origins[1] != cf:
			return "the origin policy did not see the CONNECT request as it came"
		}
		return ""
	}, genShared()))
	props.TestingRun(t)
}

// What only the CONNECT form has: the method, the HTTP version and the
// :protocol pseudo-header, each refused with its rule; Sec-WebSocket-Key
// is not used (ignored when sent).
func TestCheckConnectForm(t *testing.T) {
	good := sharedFields{Versions: []string{"13"}}.connectForm()
	with := func(f func(r *Request)) *Request {
		r := *good
		r.Header = append(Header(nil), good.Header...)
		f(&r)
		return &r
	}
	cases := []struct {
		name string
		req  *Request
		rule Rule
	}{
		{"good", good, 0},
		{"with a key", with(func(r *Request) { r.Header = append(r.Header, Field{"Sec-WebSocket-Key", "bad"}) }), 0},
		{"GET over HTTP/2", with(func(r *Request) { r.Method = "GET" }), ErrMethod},
		{"CONNECT over HTTP/1.1", with(func(r *Request) { r.ProtoMajor, r.ProtoMinor = 1, 1 }), ErrVersion},
		{"no :protocol", with(func(r *Request) { r.Header = r.Header[:1] }), ErrUpgrade},
		{":protocol webtransport", with(func(r *Request) { r.Header[1].Value = "webtransport" }), ErrUpgrade},
		{":protocol WebSocket", with(func(r *Request) { r.Header[1].Value = "WebSocket" }), ErrUpgrade},
		{"two :protocol", with(func(r *Request) { r.Header = append(r.Header, r.Header[1]) }), ErrUpgrade},
		{"no Host", with(func(r *Request) { r.Header = r.Header[1:] }), ErrHost},
		{"absolute target", with(func(r *Request) { r.Target = "https://example.com/chat" }), ErrTarget},
	}
	for _, c := range cases {
		_, err := CheckConnect(c.req, nil)
		var r Rule
		errors.As(err, &r)
		if r != c.rule || (c.rule == 0) != (err == nil) {
			t.Errorf("%s: %v, want rule %v", c.name, err, c.rule)
		}
	}
}

// The client's CONNECT form carries the fields NewClientRequest would, but
// for the ones RFC 8441 leaves out; the answer is checked as a 101 is.
func TestConnectRequest(t *testing.T) {
	u, _ := url.Parse("wss://example.com/chat?room=1")
	c, err := NewConnectRequest(u, ClientOptions{Origin: "https://example.com", Protocols: []string{"chat", "v2"},
		Header: Header{{"X-Trace", "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "[{Sec-WebSocket-Version 13} {Origin https://example.com} {Sec-WebSocket-Protocol chat, v2} {X-Trace 1}]"
	if got := fmt.Sprint(c.Header); got != want {
		t.Errorf("fields %s\nwant %s", got, want)
	}
	if _, err := NewConnectRequest(u, ClientOptions{Header: Header{{"Sec-WebSocket-Key", "x"}}}); err == nil {
		t.Error("an extra field overrode the handshake's")
	}
	answers := []struct {
		name   string
		status int
		h      Header
		rule   Rule
		proto  string
	}{
		{"200", 200, nil, 0, ""},
		{"200 with a subprotocol", 200, Header{{"Sec-WebSocket-Protocol", "v2"}}, 0, "v2"},
		{"200 with an Accept (not used, ignored)", 200, Header{{"Sec-WebSocket-Accept", "x"}}, 0, ""},
		{"101", 101, nil, ErrStatus, ""},
		{"403", 403, nil, ErrStatus, ""},
		{"unoffered subprotocol", 200, Header{{"Sec-WebSocket-Protocol", "other"}}, ErrUnofferedProtocol, ""},
		{"unoffered extension", 200, Header{{"Sec-WebSocket-Extensions", "permessage-deflate"}}, ErrUnofferedExtension, ""},
	}
	for _, a := range answers {
		res, err := c.Check(a.status, a.h)
		var r Rule
		errors.As(err, &r)
		if r != a.rule || (a.rule == 0) != (err == nil) || (err == nil && res.Protocol != a.proto) {
			t.Errorf("%s: %+v, %v; want rule %v, protocol %q", a.name, res, err, a.rule, a.proto)
		}
	}
}
