package proptest

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/internal/introspect"
)

const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// genToken draws RFC 9110 tokens.
func genToken() gopter.Gen {
	return gen.SliceOf(gen.IntRange(0, len(tchars)-1)).Map(func(ix []int) string {
		b := []byte{'t'}
		for _, i := range ix {
			b = append(b, tchars[i])
		}
		return string(b)
	})
}

// genFieldValue draws header values: visible ASCII, inner spaces and tabs,
// obs-text, no leading or trailing whitespace.
func genFieldValue() gopter.Gen {
	return gen.SliceOf(gen.Weighted([]gen.WeightedGen{
		{Weight: 8, Gen: gen.UInt8Range(0x21, 0x7E)},
		{Weight: 1, Gen: gen.OneConstOf(byte(' '), byte('\t'))},
		{Weight: 1, Gen: gen.UInt8Range(0x80, 0xFF)},
	})).Map(func(b []byte) string { return strings.Trim(string(b), " \t") })
}

// RequestSpec is what a client puts in its opening handshake.
type RequestSpec struct {
	Host      string
	Path      []string
	Query     string
	Protocols []string
	Deflate   bool
	ClientMWB int
	Extra     []string // names; values in Values
	Values    []string
}

func genRequestSpec() gopter.Gen {
	return gen.Struct(reflect.TypeOf(RequestSpec{}), map[string]gopter.Gen{
		"Host":      gen.RegexMatch(`[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?(:[1-9][0-9]{0,4})?`),
		"Path":      gen.SliceOf(gen.RegexMatch(`[A-Za-z0-9._~-]{0,10}`)),
		"Query":     gen.RegexMatch(`([a-z]{1,5}=[a-z0-9]{0,5}(&[a-z]{1,5}=[a-z0-9]{0,5}){0,3})?`),
		"Protocols": gen.SliceOf(genToken()),
		"Deflate":   gen.Bool(),
		"ClientMWB": gen.IntRange(-1, 15),
		"Extra":     gen.SliceOf(genToken().Map(func(s string) string { return "X-" + s })),
		"Values":    gen.SliceOf(genFieldValue()),
	})
}

func (s RequestSpec) build() (*handshake.ClientRequest, *url.URL, handshake.Header, error) {
	u := &url.URL{Scheme: "ws", Host: s.Host, Path: "/" + strings.Join(s.Path, "/"), RawQuery: s.Query}
	var extra handshake.Header
	for i, name := range s.Extra {
		v := ""
		if i < len(s.Values) {
			v = s.Values[i]
		}
		extra = append(extra, handshake.Field{Name: name, Value: v})
	}
	o := handshake.ClientOptions{Protocols: s.Protocols, Header: extra}
	if s.Deflate {
		mwb := s.ClientMWB
		if mwb > 0 && mwb < 8 {
			mwb = 0
		}
		o.Deflate = &handshake.DeflateParams{ClientMaxWindowBits: mwb}
	}
	c, err := handshake.NewClientRequest(u, o)
	return c, u, extra, err
}

// readHead feeds head under plan and returns the reader's outcome, the
// bytes after the head, and a description of the error.
func readHead(r *handshake.HeadReader, in []byte, plan []int) (done bool, rest string, errText string) {
	var after []byte
	for chunk := range Split(in, plan) {
		tail, ok, err := r.Feed(chunk)
		if err != nil {
			// The machine is in the error state of the rule (named after
			// it: RequestLine's is BadRequestLine).
			var he *handshake.Error
			if !errors.As(err, &he) || !strings.HasSuffix(introspect.HeadState(r), strings.TrimPrefix(he.Rule.String(), "Err")) {
				return false, "", err.Error() + " (machine left in " + introspect.HeadState(r) + ")"
			}
			return false, "", err.Error()
		}
		if ok {
			after = append(after, tail...)
			done = true
			continue // later chunks are the rest
		}
	}
	return done, string(after), ""
}

// genTail draws the bytes that follow a head (the first frames): 0 to 300
// of them.
func genTail() gopter.Gen { return genByteString(0, 300) }

func TestHandshakeProperties(t *testing.T) {
	props := newProperties(t)

	props.Property("parse(build(request)) == request, under any split", prop.ForAll(
		func(s RequestSpec, plan []int, tail []byte) string {
			c, u, extra, err := s.build()
			if err != nil {
				return "build: " + err.Error()
			}
			r := handshake.NewRequestReader(handshake.Limits{})
			done, rest, errText := readHead(r, append(append([]byte(nil), c.Head...), tail...), plan)
			if !done || errText != "" {
				return fmt.Sprintf("not read: %s", errText)
			}
			if rest != string(tail) {
				return fmt.Sprintf("rest %q, want %q", rest, tail)
			}
			req := r.Request()
			h := req.Header
			switch {
			case req.Method != "GET" || req.Target != u.RequestURI():
				return fmt.Sprintf("request line %s %s", req.Method, req.Target)
			case h.Get("Host") != s.Host || h.Get("Sec-WebSocket-Key") != c.Key:
				return fmt.Sprintf("host or key: %q", h)
			case strings.Join(h.List("Sec-WebSocket-Protocol"), ",") != strings.Join(s.Protocols, ","):
				return fmt.Sprintf("protocols %q", h.List("Sec-WebSocket-Protocol"))
			}
			for _, f := range extra {
				if !contains(h.Values(f.Name), f.Value) {
					return fmt.Sprintf("extra field %s: %q", f.Name, h.Values(f.Name))
				}
			}
			up, err := handshake.Check(req, &handshake.ServerOptions{
				Protocols: s.Protocols, Deflate: &handshake.DeflateConfig{ClientMaxWindowBits: 10}})
			if err != nil {
				return "server check: " + err.Error()
			}
			if len(s.Protocols) > 0 && up.Protocol != s.Protocols[0] {
				return "selected " + up.Protocol
			}
			if (up.Deflate != nil) != s.Deflate {
				return fmt.Sprintf("deflate agreed %v, offered %v", up.Deflate, s.Deflate)
			}
			return ""
		},
		genRequestSpec(), GenSplitPlan(), genTail(),
	))

	props.Property("parse(build(response)) == response, under any split, and the client accepts it", prop.ForAll(
		func(s RequestSpec, plan []int, tail []byte) string {
			c, _, _, err := s.build()
			if err != nil {
				return err.Error()
			}
			r := handshake.NewRequestReader(handshake.Limits{})
			r.Feed(c.Head)
			up, err := handshake.Check(r.Request(), &handshake.ServerOptions{
				Protocols: s.Protocols, Deflate: &handshake.DeflateConfig{ClientMaxWindowBits: 10, ServerNoContextTakeover: true}})
			if err != nil {
				return err.Error()
			}
			head, err := up.AppendResponse(nil, nil)
			if err != nil {
				return err.Error()
			}
			rr := handshake.NewResponseReader(handshake.Limits{})
			done, rest, errText := readHead(rr, append(head, tail...), plan)
			if !done || rest != string(tail) {
				return fmt.Sprintf("done %v rest %q err %s", done, rest, errText)
			}
			res, err := c.Check(rr.Response())
			if err != nil {
				return "client check: " + err.Error()
			}
			if res.Protocol != up.Protocol || (res.Deflate == nil) != (up.Deflate == nil) ||
				(res.Deflate != nil && *res.Deflate != *up.Deflate) {
				return fmt.Sprintf("client sees %+v, server agreed %+v", res, up)
			}
			return ""
		},
		genRequestSpec(), GenSplitPlan(), genTail(),
	))

	props.Property("any split of an arbitrary or mutated head gives the same outcome", prop.ForAll(
		func(s RequestSpec, muts []Mutation, plan []int, response bool) string {
			c, _, _, err := s.build()
			if err != nil {
				return err.Error()
			}
			in := c.Head
			if response {
				in = []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: " + string(c.Head[4:40]) + "\r\n\r\n")
			}
			for _, m := range muts {
				in = m.Apply(in)
			}
			newReader := handshake.NewRequestReader
			if response {
				newReader = handshake.NewResponseReader
			}
			d1, r1, e1 := readHead(newReader(handshake.Limits{}), in, nil)
			d2, r2, e2 := readHead(newReader(handshake.Limits{}), in, plan)
			if d1 != d2 || r1 != r2 || e1 != e2 {
				return fmt.Sprintf("whole: %v %q %s\nsplit: %v %q %s", d1, r1, e1, d2, r2, e2)
			}
			return ""
		},
		genRequestSpec(), GenMutations(), GenSplitPlan(), gen.Bool(),
	))

	props.Property("parse(format(extensions)) == extensions", prop.ForAll(
		func(names []string, params [][]string, values []string) string {
			var exts []handshake.Extension
			for i, n := range names {
				e := handshake.Extension{Name: n}
				if i < len(params) {
					for j, p := range params[i] {
						prm := handshake.Param{Name: p}
						if j < len(values) && values[j] != "" {
							prm.Value, prm.HasValue = values[j], true
						}
						e.Params = append(e.Params, prm)
					}
				}
				exts = append(exts, e)
			}
			got, err := handshake.ParseExtensions([]string{handshake.FormatExtensions(exts)})
			if err != nil {
				return err.Error()
			}
			if len(exts) == 0 && len(got) == 0 {
				return ""
			}
			if !reflect.DeepEqual(got, exts) {
				return fmt.Sprintf("got %+v", got)
			}
			return ""
		},
		gen.SliceOf(genToken()), gen.SliceOf(gen.SliceOf(genToken())), gen.SliceOf(genToken().Map(func(s string) string { return s[1:] })),
	))

	props.TestingRun(t)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// FuzzRequestHead: any bytes, whole or split, give the same outcome, and a
// head that reads is checked without panicking.
func FuzzRequestHead(f *testing.F) {
	f.Add([]byte("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\x81\x80"), uint8(3))
	f.Add([]byte("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), uint8(1))
	f.Add([]byte("HTTP/1.1 101 OK\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		d1, r1, e1 := readHead(handshake.NewRequestReader(handshake.Limits{}), in, nil)
		r := handshake.NewRequestReader(handshake.Limits{})
		d2, r2, e2 := readHead(r, in, []int{int(chunk%32) + 1})
		if d1 != d2 || r1 != r2 || e1 != e2 {
			t.Fatalf("whole: %v %q %s; split: %v %q %s", d1, r1, e1, d2, r2, e2)
		}
		if d2 {
			handshake.Check(r.Request(), &handshake.ServerOptions{Deflate: &handshake.DeflateConfig{}})
		}
	})
}

// FuzzExtensions: whatever parses formats back to the same list.
func FuzzExtensions(f *testing.F) {
	f.Add(`permessage-deflate; client_max_window_bits; server_max_window_bits="10", x`)
	f.Add(`a;b=c;d="e"`)
	f.Fuzz(func(t *testing.T, s string) {
		exts, err := handshake.ParseExtensions([]string{s})
		if err != nil {
			return
		}
		again, err := handshake.ParseExtensions([]string{handshake.FormatExtensions(exts)})
		if err != nil || !reflect.DeepEqual(again, exts) {
			t.Fatalf("%q: %+v then %+v, %v", s, exts, again, err)
		}
		for _, e := range exts {
			if e.Name == handshake.DeflateName {
				handshake.ParseDeflate(e, false)
			}
		}
	})
}
