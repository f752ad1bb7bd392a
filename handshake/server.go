package handshake

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// ServerOptions configure the server side of the handshake. The zero value
// accepts same-origin (or Origin-less) requests, no subprotocol and no
// extension.
type ServerOptions struct {
	// CheckOrigin decides whether a request's Origin is allowed (the
	// defence against cross-site WebSocket hijacking, RFC 6455 §10.2). nil
	// means SameOrigin. A refusal is a 403.
	CheckOrigin func(origin string, r *Request) bool
	// Protocols are the subprotocols the server speaks, in its order of
	// preference: the first one the client offered is selected.
	Protocols []string
	// SelectProtocol, when set, replaces Protocols: it gets the client's
	// offers in the client's order and returns one of them, or "" for none.
	SelectProtocol func(offered []string) string
	// Deflate enables permessage-deflate negotiation; nil declines it.
	Deflate *DeflateConfig
}

// SameOrigin allows a request without Origin (not a browser) and one whose
// Origin names the same host (and port) as its Host header.
func SameOrigin(origin string, r *Request) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Header.Get("Host"))
}

// OriginAllowList returns a CheckOrigin that allows requests without Origin
// and those whose Origin is one of origins (scheme://host[:port], compared
// without regard to case).
func OriginAllowList(origins ...string) func(string, *Request) bool {
	return func(origin string, _ *Request) bool {
		if origin == "" {
			return true
		}
		for _, o := range origins {
			if strings.EqualFold(o, origin) {
				return true
			}
		}
		return false
	}
}

// Agreement is an accepted handshake: what the server answers 101 with.
type Agreement struct {
	Request  *Request
	Accept   string         // Sec-WebSocket-Accept
	Protocol string         // the selected subprotocol, or ""
	Deflate  *DeflateParams // the agreed permessage-deflate parameters, or nil
}

// Check validates an opening handshake request (RFC 6455 §4.2.1) and
// negotiates subprotocol and extensions. The error is an *Error whose Status
// is the answer to send (400, 403, 426, 500).
func Check(r *Request, o *ServerOptions) (*Agreement, error) {
	if o == nil {
		o = &ServerOptions{}
	}
	h := r.Header
	switch {
	case r.Method != "GET":
		return nil, fail(ErrMethod, "%q", r.Method)
	case r.ProtoMajor < 1 || (r.ProtoMajor == 1 && r.ProtoMinor < 1):
		return nil, fail(ErrVersion, "HTTP/%d.%d", r.ProtoMajor, r.ProtoMinor)
	case !strings.HasPrefix(r.Target, "/"):
		return nil, fail(ErrTarget, "%q", r.Target)
	case h.Count("Host") != 1 || h.Get("Host") == "":
		return nil, fail(ErrHost, "%d Host fields", h.Count("Host"))
	case !h.HasToken("Upgrade", "websocket"):
		return nil, fail(ErrUpgrade, "%q", h.Get("Upgrade"))
	case !h.HasToken("Connection", "Upgrade"):
		return nil, fail(ErrConnection, "%q", h.Get("Connection"))
	}
	// §4.2.2: a version we do not speak gets 426 and the one we do.
	if v := h.List("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		return nil, fail(ErrWebSocketVersion, "%q", strings.Join(v, ", "))
	}
	key := h.Get("Sec-WebSocket-Key")
	if h.Count("Sec-WebSocket-Key") != 1 || !validKey(key) {
		return nil, fail(ErrKey, "%q", key)
	}
	check := o.CheckOrigin
	if check == nil {
		check = SameOrigin
	}
	if origin := h.Get("Origin"); !check(origin, r) {
		return nil, fail(ErrOrigin, "%q for host %q", origin, h.Get("Host"))
	}
	offered := h.List("Sec-WebSocket-Protocol")
	for _, p := range offered {
		if !isToken(p) {
			return nil, fail(ErrProtocols, "%q is not a token", p)
		}
	}
	exts, err := ParseExtensions(h.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return nil, err
	}
	u := &Agreement{Request: r, Accept: AcceptKey(key)}
	if u.Protocol, err = selectProtocol(offered, o); err != nil {
		return nil, err
	}
	if o.Deflate != nil {
		if p, ok := o.Deflate.Negotiate(exts); ok {
			u.Deflate = &p
		}
	}
	return u, nil
}

func selectProtocol(offered []string, o *ServerOptions) (string, error) {
	if o.SelectProtocol != nil {
		p := o.SelectProtocol(offered)
		if p != "" && !contains(offered, p) {
			return "", fail(ErrSelectedProtocol, "%q not in %q", p, offered)
		}
		return p, nil
	}
	for _, want := range o.Protocols {
		if contains(offered, want) {
			return want, nil
		}
	}
	return "", nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// AppendResponse appends the 101 response. extra header fields are added
// after the handshake's own; a field with a CR, LF or NUL is an error.
func (u *Agreement) AppendResponse(dst []byte, extra Header) ([]byte, error) {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, u.Accept...)
	dst = append(dst, "\r\n"...)
	if u.Protocol != "" {
		dst = appendField(dst, "Sec-WebSocket-Protocol", u.Protocol)
	}
	if u.Deflate != nil {
		dst = appendField(dst, "Sec-WebSocket-Extensions", u.Deflate.Extension().String())
	}
	return appendExtra(dst, extra)
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func appendExtra(dst []byte, extra Header) ([]byte, error) {
	for _, f := range extra {
		if !isToken(f.Name) || strings.ContainsAny(f.Value, "\r\n\x00") {
			return dst, errors.New("handshake: invalid extra header field " + strconv.Quote(f.Name))
		}
		dst = appendField(dst, f.Name, f.Value)
	}
	return append(dst, "\r\n"...), nil
}

// AppendRejection appends the HTTP response that refuses a handshake for
// err: the status it carries (a Status() int method, as Rule and *Error
// have; 400 otherwise), a text body saying which rule failed,
// Connection: close, and for 426 the version we speak.
func AppendRejection(dst []byte, err error) []byte {
	status := http.StatusBadRequest
	var st interface{ Status() int }
	if errors.As(err, &st) && st.Status() != 0 {
		status = st.Status()
	}
	body := err.Error() + "\n"
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\n"...)
	if status == http.StatusUpgradeRequired {
		dst = appendField(dst, "Sec-WebSocket-Version", "13")
	}
	dst = appendField(dst, "Content-Type", "text/plain; charset=utf-8")
	dst = appendField(dst, "Content-Length", strconv.Itoa(len(body)))
	dst = appendField(dst, "Connection", "close")
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// FromHTTP turns a net/http request into a Request, so that a handler can
// upgrade through Check, the same code path as the raw-TCP server. net/http
// keeps Host apart from the other fields; it comes first here. Fields are
// in name order (net/http does not keep the order received).
func FromHTTP(r *http.Request) *Request {
	req := &Request{Method: r.Method, Target: r.RequestURI, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor}
	if r.Host != "" {
		req.Header = append(req.Header, Field{Name: "Host", Value: r.Host})
	}
	req.Header = AppendHTTPHeader(req.Header, r.Header)
	return req
}

// AppendHTTPHeader appends the fields of h to dst, names sorted (an
// http.Header keeps no order), and returns it.
func AppendHTTPHeader(dst Header, h http.Header) Header {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range h[name] {
			dst = append(dst, Field{Name: name, Value: v})
		}
	}
	return dst
}

// HTTP returns the fields as an http.Header (names canonicalised, the
// order of each name's values kept).
func (h Header) HTTP() http.Header {
	out := make(http.Header, len(h))
	for _, f := range h {
		out.Add(f.Name, f.Value)
	}
	return out
}
