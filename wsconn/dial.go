package wsconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsframe"
)

// DialOptions configure Dial. The zero value works.
type DialOptions struct {
	Protocols []string    // subprotocols offered, in order of preference
	Origin    string      // Origin header, if any
	Header    http.Header // extra request header fields (Authorization, Cookie, ...)
	TLSConfig *tls.Config // for wss://; ServerName defaults to the URL's host
	Dialer    *net.Dialer // nil: a zero net.Dialer
	// NetDial, when set, opens the TCP connection instead of Dialer (a
	// SOCKS dialer, an in-memory pipe in tests, a connection wrapped to
	// count or trace its bytes). TLS for wss:// still runs on top of it.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// WrapConn, when set, is given the connection once it is open (after
	// TLS for wss://, before the opening handshake), and Dial goes on with
	// what it returns: to trace or count the bytes as the WebSocket sees
	// them. A wrapper that passes CloseWrite on keeps the lingering close.
	WrapConn func(net.Conn) net.Conn
	// Proxy picks the HTTP proxy for a URL (looked up as http:// for ws://
	// and https:// for wss://), reached with a CONNECT tunnel; a nil URL
	// means a direct connection. nil: http.ProxyFromEnvironment
	// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY; loopback is never proxied).
	Proxy  func(*http.Request) (*url.URL, error)
	Limits handshake.Limits // bounds on the response head
	// HandshakeTimeout bounds dialing and the handshake when ctx has no
	// deadline (default 30 s).
	HandshakeTimeout time.Duration
	// HTTP2, for a wss:// URL, opens the WebSocket as a stream of an
	// HTTP/2 connection of this transport (RFC 8441), shared with the
	// other WebSockets dialed through it; HTTP/1.1 when the server does not
	// offer extended CONNECT. nil (the default): HTTP/1.1. With HTTP2 set,
	// TLSConfig and Dialer must be nil (the transport has its own) and
	// Limits do not apply (the HTTP/2 transport bounds response headers).
	HTTP2 *HTTP2Transport
	// DeflateOffer offers permessage-deflate (RFC 7692) with these
	// parameters; nil (the default) offers nothing. Off by default, like
	// gorilla/websocket's and gws's clients: compression costs CPU on
	// every message and pays only for compressible traffic.
	// &handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny}
	// is what browsers offer. The server's agreement replaces
	// Options.Deflate.
	DeflateOffer *handshake.DeflateParams
	Options      // the connection's options
}

// Dial opens a WebSocket client connection to a ws:// or wss:// URL. The
// dial and the handshake end when ctx does.
func Dial(ctx context.Context, rawURL string, o *DialOptions) (*Conn, error) {
	if o == nil {
		o = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	req, err := handshake.NewClientRequest(u, handshake.ClientOptions{Origin: o.Origin, Protocols: o.Protocols, Header: handshake.AppendHTTPHeader(nil, o.Header), Deflate: o.DeflateOffer})
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		timeout := o.HandshakeTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if o.HTTP2 != nil {
		return o.HTTP2.dial(ctx, u, o)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	netDial := o.NetDial
	if netDial == nil {
		d := o.Dialer
		if d == nil {
			d = &net.Dialer{}
		}
		netDial = d.DialContext
	} else if o.Dialer != nil {
		return nil, errors.New("wsconn: DialOptions.Dialer and NetDial exclude each other")
	}
	proxy, err := proxyFor(u, o)
	if err != nil {
		return nil, err
	}
	var nc net.Conn
	if proxy != nil {
		nc, err = dialProxy(ctx, netDial, proxy, addr)
	} else {
		nc, err = netDial(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	if o.WrapConn != nil {
		nc = o.WrapConn(nc)
	}
	c, err := clientHandshake(ctx, nc, req, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func clientHandshake(ctx context.Context, nc net.Conn, req *handshake.ClientRequest, o *DialOptions) (*Conn, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	if _, err := nc.Write(req.Head); err != nil {
		return nil, contextCause(ctx, err)
	}
	r := handshake.NewResponseReader(o.Limits)
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			rest, done, ferr := r.Feed(buf[:n])
			if ferr != nil {
				return nil, ferr
			}
			if done {
				if resp := r.Response(); resp.Status != 101 {
					return nil, refused(ctx, nc, resp, rest)
				}
				res, cerr := req.Check(r.Response())
				if cerr != nil {
					return nil, cerr
				}
				if !stop() {
					return nil, ctx.Err()
				}
				nc.SetDeadline(time.Time{})
				co := o.Options
				co.Deflate = res.Deflate
				return NewConn(nc, wsframe.RoleClient, res.Protocol, rest, co), nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("wsconn: reading the handshake response: %w", contextCause(ctx, err))
		}
	}
}

// HandshakeError is Dial's error when the server refused the opening
// handshake: it answered with a status other than 101 Switching Protocols
// (401, 403, 404, 426, 503, ...). It carries the status, the header (a
// 401's WWW-Authenticate, a 503's Retry-After) and the start of the body.
// errors.Is(err, handshake.ErrStatus) holds.
type HandshakeError struct {
	Status int
	Reason string
	Header http.Header
	// Body is the start of the response body (at most MaxRefusalBody bytes
	// as sent, what arrived within a short wait; the data of the chunks
	// when it was sent chunked).
	Body []byte
}

// MaxRefusalBody bounds the body a HandshakeError keeps.
const MaxRefusalBody = 1 << 10

func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("wsconn: handshake refused: %d %s", e.Status, e.Reason)
	line, _, _ := bytes.Cut(e.Body, []byte("\n"))
	if line = bytes.TrimSpace(line); len(line) > 0 {
		q := strconv.QuoteToGraphic(string(line)) // a peer's bytes, shown safely
		msg += ": " + q[1:len(q)-1]
	}
	return msg
}

func (e *HandshakeError) Unwrap() error { return handshake.ErrStatus }

// refusedBodyWait bounds the wait for a refusal's body.
const refusedBodyWait = 500 * time.Millisecond

// refused reads the start of a refusal's body (rest arrived with the
// head): up to its Content-Length or MaxRefusalBody, until the server
// closes, for refusedBodyWait at most and not past ctx's deadline.
func refused(ctx context.Context, nc net.Conn, resp *handshake.Response, rest []byte) error {
	want := MaxRefusalBody
	if n, err := strconv.Atoi(resp.Header.Get("Content-Length")); err == nil && n >= 0 {
		want = min(n, MaxRefusalBody)
	}
	body := make([]byte, 0, want)
	body = append(body, rest[:min(len(rest), want)]...)
	if len(body) < want && ctx.Err() == nil {
		d := time.Now().Add(refusedBodyWait)
		if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
			d = cd
		}
		nc.SetReadDeadline(d)
		for len(body) < want {
			n, err := nc.Read(body[len(body):want])
			body = body[:len(body)+n]
			if err != nil {
				break
			}
		}
	}
	if resp.Header.HasToken("Transfer-Encoding", "chunked") {
		body = dechunk(body)
	}
	return &HandshakeError{Status: resp.Status, Reason: resp.Reason, Header: resp.Header.HTTP(), Body: body}
}

// dechunk returns the data of the chunks that begin in b (the start of a
// chunked body, RFC 9112 §7.1), a chunk cut short included; extensions
// and trailers are dropped.
func dechunk(b []byte) []byte {
	var out []byte
	for {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return out
		}
		size, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil || n == 0 {
			return out
		}
		k := min(int(n), len(rest))
		out = append(out, rest[:k]...)
		b = bytes.TrimPrefix(rest[k:], []byte("\r\n"))
		if k < int(n) {
			return out
		}
	}
}
