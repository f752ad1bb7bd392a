package handshake

import (
	"net/url"
	"strings"
)

// The WebSocket opening handshake over HTTP/2 (RFC 8441). The client sends
// an extended CONNECT: :method CONNECT, :protocol websocket, :scheme,
// :path and :authority, then the same Sec-WebSocket-* fields as over
// HTTP/1.1 but no Sec-WebSocket-Key (§5: the key and Sec-WebSocket-Accept
// are not used; HTTP/2 forbids Upgrade and Connection, RFC 9113 §8.2.2).
// The server answers 200 instead of 101. Everything else — version 13,
// Origin, subprotocols, extensions — is the HTTP/1.1 handshake's, so this
// file maps the CONNECT form onto the HTTP/1.1 one and runs Check (or
// ClientRequest.Check) on it: those rules exist once.

// ProtocolPseudoHeader is the name under which net/http's HTTP/2 server
// hands a handler the :protocol pseudo-header of an extended CONNECT (in
// http.Request.Header), and under which FromHTTP keeps it.
const ProtocolPseudoHeader = ":protocol"

// connectKey stands in for the Sec-WebSocket-Key that the CONNECT form
// does not carry, so that Check can run unchanged; the accept key derived
// from it is never sent.
const connectKey = "AAAAAAAAAAAAAAAAAAAAAA=="

// CheckConnect validates an RFC 8441 opening handshake (an HTTP/2 extended
// CONNECT, as FromHTTP turns it into a Request) and negotiates subprotocol
// and extensions exactly as Check does. The error is an *Error whose
// Status is the answer to send; the returned Agreement has no Accept (the
// answer is a 200 without one).
func CheckConnect(r *Request, o *ServerOptions) (*Agreement, error) {
	if o == nil {
		o = &ServerOptions{}
	}
	h := r.Header
	switch {
	case r.Method != "CONNECT":
		return nil, fail(ErrMethod, "%q over HTTP/%d: a WebSocket over HTTP/2 is opened with CONNECT (RFC 8441 §4)", r.Method, r.ProtoMajor)
	case r.ProtoMajor < 2:
		return nil, fail(ErrVersion, "extended CONNECT over HTTP/%d.%d; RFC 8441 is for HTTP/2", r.ProtoMajor, r.ProtoMinor)
	case h.Count(ProtocolPseudoHeader) != 1 || h.Get(ProtocolPseudoHeader) != "websocket":
		// §5: "The :protocol pseudo-header field MUST be included in the
		// CONNECT request, and it MUST have a value of websocket".
		return nil, fail(ErrUpgrade, ":protocol %q, want websocket (RFC 8441 §5)", strings.Join(h.Values(ProtocolPseudoHeader), ", "))
	}
	form := &Request{Method: "GET", Target: r.Target, ProtoMajor: 1, ProtoMinor: 1, Header: make(Header, 0, len(h)+3)}
	for _, f := range h {
		switch {
		case f.Name == ProtocolPseudoHeader,
			strings.EqualFold(f.Name, "Sec-WebSocket-Key"),
			strings.EqualFold(f.Name, "Upgrade"),
			strings.EqualFold(f.Name, "Connection"):
			// Not part of the CONNECT form; net/http's HTTP/2 server
			// already refuses streams that carry Upgrade or Connection.
			continue
		}
		form.Header = append(form.Header, f)
	}
	form.Header = append(form.Header,
		Field{Name: "Upgrade", Value: "websocket"},
		Field{Name: "Connection", Value: "Upgrade"},
		Field{Name: "Sec-WebSocket-Key", Value: connectKey})
	// The origin policy sees the request as it came, not the HTTP/1.1 form.
	oo := *o
	check := o.CheckOrigin
	if check == nil {
		check = SameOrigin
	}
	oo.CheckOrigin = func(origin string, _ *Request) bool { return check(origin, r) }
	u, err := Check(form, &oo)
	if err != nil {
		return nil, err
	}
	u.Request, u.Accept = r, ""
	return u, nil
}

// ResponseFields are the header fields of the 200 that accepts an RFC 8441
// handshake: the selected subprotocol and the agreed extensions, the same
// ones AppendResponse writes after its status line.
func (u *Agreement) ResponseFields() Header {
	var h Header
	if u.Protocol != "" {
		h = append(h, Field{Name: "Sec-WebSocket-Protocol", Value: u.Protocol})
	}
	if u.Deflate != nil {
		h = append(h, Field{Name: "Sec-WebSocket-Extensions", Value: u.Deflate.Extension().String()})
	}
	return h
}

// ConnectRequest is a client's RFC 8441 opening handshake: the fields to
// send with an extended CONNECT (:method CONNECT, :protocol websocket; the
// transport adds :scheme, :path and :authority from the URL).
type ConnectRequest struct {
	// Header holds the regular fields: Sec-WebSocket-Version, Origin,
	// Sec-WebSocket-Protocol, Sec-WebSocket-Extensions and the caller's.
	Header Header
	req    *ClientRequest
}

// NewConnectRequest builds the extended CONNECT form of the handshake that
// NewClientRequest builds for HTTP/1.1, with the same options and checks:
// it builds that request and reads its head back with the request reader,
// keeping every field but the ones RFC 8441 leaves out (Host is
// :authority; Upgrade, Connection and Sec-WebSocket-Key are not used).
func NewConnectRequest(u *url.URL, o ClientOptions) (*ConnectRequest, error) {
	cr, err := NewClientRequest(u, o)
	if err != nil {
		return nil, err
	}
	rr := NewRequestReader(Limits{MaxHeadSize: len(cr.Head), MaxHeaders: len(o.Header) + len(handshakeFields) + 1, MaxLineLength: len(cr.Head)})
	if _, _, err := rr.Feed(cr.Head); err != nil {
		return nil, err
	}
	c := &ConnectRequest{req: cr}
	for _, f := range rr.Request().Header {
		switch {
		case strings.EqualFold(f.Name, "Host"),
			strings.EqualFold(f.Name, "Upgrade"),
			strings.EqualFold(f.Name, "Connection"),
			strings.EqualFold(f.Name, "Sec-WebSocket-Key"):
			continue
		}
		c.Header = append(c.Header, f)
	}
	return c, nil
}

// Check verifies the server's answer to the extended CONNECT: a 200 (RFC
// 8441 §5), then what ClientRequest.Check verifies of a 101's fields (the
// subprotocol and the extensions were offered). status and h are the
// response's, as the HTTP/2 transport delivered them.
func (c *ConnectRequest) Check(status int, h Header) (*ClientResult, error) {
	if status != 200 {
		return nil, fail(ErrStatus, "got %d to an extended CONNECT, want 200 (RFC 8441 §5)", status)
	}
	form := &Response{ProtoMajor: 1, ProtoMinor: 1, Status: 101, Reason: "Switching Protocols", Header: make(Header, 0, len(h)+3)}
	for _, f := range h {
		switch {
		case strings.EqualFold(f.Name, "Upgrade"),
			strings.EqualFold(f.Name, "Connection"),
			strings.EqualFold(f.Name, "Sec-WebSocket-Accept"):
			continue // not used over HTTP/2 (§5)
		}
		form.Header = append(form.Header, f)
	}
	form.Header = append(form.Header,
		Field{Name: "Upgrade", Value: "websocket"},
		Field{Name: "Connection", Value: "Upgrade"},
		Field{Name: "Sec-WebSocket-Accept", Value: AcceptKey(c.req.Key)})
	return c.req.Check(form)
}
