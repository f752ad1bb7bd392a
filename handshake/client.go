package handshake

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ClientOptions configure the client side of the handshake.
type ClientOptions struct {
	Origin    string         // sent as Origin when set (browsers always send one)
	Protocols []string       // subprotocols offered, in order of preference
	Deflate   *DeflateParams // a permessage-deflate offer, or nil
	Header    Header         // extra fields; the handshake's own may not be overridden
	Rand      io.Reader      // source of the key; nil means crypto/rand
}

// ClientRequest is a handshake request a client sent, kept to check the
// response against.
type ClientRequest struct {
	Key       string
	Protocols []string
	Deflate   *DeflateParams
	Head      []byte // the request head, ready to write
}

// handshakeFields are the fields the handshake sets itself.
var handshakeFields = []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
	"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Origin"}

// NewClientRequest builds the opening handshake for a ws:// or wss:// URL
// (RFC 6455 §4.1): a key of 16 random bytes, Host from the URL, the path and
// query as the target.
func NewClientRequest(u *url.URL, o ClientOptions) (*ClientRequest, error) {
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("handshake: scheme %q is not ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("handshake: URL has no host")
	}
	if u.Fragment != "" {
		return nil, errors.New("handshake: a WebSocket URL has no fragment (RFC 6455 §3)")
	}
	for _, p := range o.Protocols {
		if !isToken(p) {
			return nil, fmt.Errorf("handshake: subprotocol %q is not a token", p)
		}
	}
	for _, f := range o.Header {
		for _, own := range handshakeFields {
			if strings.EqualFold(f.Name, own) {
				return nil, fmt.Errorf("handshake: extra field %s is set by the handshake", f.Name)
			}
		}
	}
	if strings.ContainsAny(o.Origin, "\r\n\x00") {
		return nil, errors.New("handshake: invalid Origin")
	}
	src := o.Rand
	if src == nil {
		src = rand.Reader
	}
	var raw [16]byte
	if _, err := io.ReadFull(src, raw[:]); err != nil {
		return nil, fmt.Errorf("handshake: key: %w", err)
	}
	c := &ClientRequest{Key: base64.StdEncoding.EncodeToString(raw[:]), Protocols: o.Protocols, Deflate: o.Deflate}
	b := append([]byte("GET "), u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\n"...)
	b = appendField(b, "Host", u.Host)
	b = appendField(b, "Upgrade", "websocket")
	b = appendField(b, "Connection", "Upgrade")
	b = appendField(b, "Sec-WebSocket-Key", c.Key)
	b = appendField(b, "Sec-WebSocket-Version", "13")
	if o.Origin != "" {
		b = appendField(b, "Origin", o.Origin)
	}
	if len(o.Protocols) > 0 {
		b = appendField(b, "Sec-WebSocket-Protocol", strings.Join(o.Protocols, ", "))
	}
	if o.Deflate != nil {
		b = appendField(b, "Sec-WebSocket-Extensions", o.Deflate.Extension().String())
	}
	var err error
	c.Head, err = appendExtra(b, o.Header)
	return c, err
}

// ClientResult is what the server agreed to.
type ClientResult struct {
	Protocol string
	Deflate  *DeflateParams
}

// Check verifies the server's response (RFC 6455 §4.1): 101, Upgrade and
// Connection tokens, the accept key, and that the subprotocol and the
// extensions were offered. Each failure is a distinct Rule.
func (c *ClientRequest) Check(resp *Response) (*ClientResult, error) {
	h := resp.Header
	switch {
	case resp.Status != 101:
		return nil, fail(ErrStatus, "got %d %s", resp.Status, resp.Reason)
	case !h.HasToken("Upgrade", "websocket"):
		return nil, fail(ErrResponseUpgrade, "%q", h.Get("Upgrade"))
	case !h.HasToken("Connection", "Upgrade"):
		return nil, fail(ErrResponseConnection, "%q", h.Get("Connection"))
	case h.Count("Sec-WebSocket-Accept") != 1 || h.Get("Sec-WebSocket-Accept") != AcceptKey(c.Key):
		return nil, fail(ErrAccept, "%q", h.Get("Sec-WebSocket-Accept"))
	}
	res := &ClientResult{}
	if protos := h.List("Sec-WebSocket-Protocol"); len(protos) > 0 {
		if len(protos) > 1 || !contains(c.Protocols, protos[0]) {
			return nil, fail(ErrUnofferedProtocol, "%q, offered %q", protos, c.Protocols)
		}
		res.Protocol = protos[0]
	}
	exts, err := ParseExtensions(h.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return nil, err
	}
	for _, e := range exts {
		if e.Name != DeflateName || c.Deflate == nil || res.Deflate != nil {
			return nil, fail(ErrUnofferedExtension, "%q", e.String())
		}
		p, err := c.Deflate.CheckResponse(e)
		if err != nil {
			return nil, fail(ErrDeflateResponse, "%v", err)
		}
		res.Deflate = &p
	}
	return res, nil
}
