package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsframe"
)

// HTTP2Transport opens WebSockets as streams of HTTP/2 connections (RFC
// 8441), as browsers do: every WebSocket dialed through one HTTP2Transport
// to one host is a stream of the same TCP connection (while the server
// allows more concurrent streams), with no TCP or TLS handshake of its
// own. Share one, like an http.Transport; CloseIdleConnections closes the
// connections that no WebSocket uses any more (they also close by
// themselves after IdleTimeout). The zero value is ready to use.
//
// Dial falls back to HTTP/1.1 when the server does not negotiate h2 in
// TLS (the WebSocket then runs on the connection just made) or does not
// advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (a Go server without
// GODEBUG=http2xconnect=1, for one; Dial then makes an HTTP/1.1
// connection).
//
// How: Go 1.26's http.Transport and http.ClientConn refuse to send the
// :protocol pseudo-header (their header check rejects the name), although
// the HTTP/2 client inside them sends an extended CONNECT when asked and
// waits for the server's SETTINGS first. HTTP2Transport makes the TLS
// connection itself and hands it to the http.Transport's HTTP/2 code
// through the documented TLSNextProto["h2"] hook, whose RoundTripper sends
// requests on the connections handed to it without that check. Only wss://
// URLs: browsers never run WebSockets over unencrypted HTTP/2.
type HTTP2Transport struct {
	// TLSConfig for the connections; nil: the zero configuration.
	// NextProtos is the transport's (h2, then http/1.1).
	TLSConfig *tls.Config
	// Dialer for the TCP connections; nil: a zero net.Dialer.
	Dialer *net.Dialer
	// IdleTimeout closes a connection that has carried no stream for this
	// long (default 90 s).
	IdleTimeout time.Duration

	once sync.Once
	t1   *http.Transport
	h2   atomic.Pointer[http.RoundTripper] // t1's HTTP/2 transport, once a connection was handed to it
}

// ErrHTTP2Scheme is returned by Dial with DialOptions.HTTP2 set for a URL
// that is not wss://.
var ErrHTTP2Scheme = errors.New("wsconn: WebSockets over HTTP/2 need a wss:// URL")

// ErrHTTP2Options is returned by Dial with DialOptions.HTTP2 set together
// with TLSConfig, Dialer or NetDial: the HTTP2Transport's own are used, for the
// HTTP/1.1 fallback too, since its connections are shared.
var ErrHTTP2Options = errors.New("wsconn: with DialOptions.HTTP2 set, TLSConfig, Dialer and NetDial are the HTTP2Transport's")

// errExtendedConnect is the text of net/http's (unexported) error for a
// server that did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL in its
// first SETTINGS frame; a test holds it in step with net/http.
const errExtendedConnect = "net/http: extended connect not supported by peer"

func (t *HTTP2Transport) init() {
	t.once.Do(func() {
		cfg := t.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.NextProtos = []string{"h2", "http/1.1"}
		t.t1 = &http.Transport{
			TLSClientConfig:    cfg,
			IdleConnTimeout:    t.IdleTimeout,
			DisableCompression: true, // a stream is not a compressible body
			Protocols:          new(http.Protocols),
		}
		if t.t1.IdleConnTimeout <= 0 {
			t.t1.IdleConnTimeout = 90 * time.Second
		}
		t.t1.Protocols.SetHTTP1(true)
		t.t1.Protocols.SetHTTP2(true)
		// Sets up the HTTP/2 transport (TLSNextProto) without a request.
		t.t1.CloseIdleConnections()
	})
}

// RoundTrip sends an ordinary HTTP request, on the transport's HTTP/2
// connection to the host when it has one: an application's requests share
// the connection with its WebSockets, as a browser's do. It makes
// HTTP2Transport an http.RoundTripper (for an http.Client).
func (t *HTTP2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.init()
	return t.t1.RoundTrip(req)
}

// CloseIdleConnections closes the connections that carry no WebSocket.
func (t *HTTP2Transport) CloseIdleConnections() {
	t.init()
	t.t1.CloseIdleConnections()
}

func (t *HTTP2Transport) tlsConfig(host string, protos ...string) *tls.Config {
	cfg := t.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = protos
	return cfg
}

// dial opens the WebSocket for Dial: a stream of a connection the HTTP/2
// transport has, or of a new one, or HTTP/1.1 when the server will not.
func (t *HTTP2Transport) dial(ctx context.Context, u *url.URL, o *DialOptions) (*Conn, error) {
	if u.Scheme != "wss" {
		return nil, ErrHTTP2Scheme
	}
	if o.TLSConfig != nil || o.Dialer != nil || o.NetDial != nil {
		return nil, ErrHTTP2Options
	}
	t.init()
	cr, err := handshake.NewConnectRequest(u, handshake.ClientOptions{Origin: o.Origin, Protocols: o.Protocols, Header: handshake.AppendHTTPHeader(nil, o.Header), Deflate: o.DeflateOffer})
	if err != nil {
		return nil, err
	}
	if rt := t.h2.Load(); rt != nil {
		c, err := t.connect(ctx, *rt, u, cr, o)
		switch {
		case err == nil:
			return c, nil
		case isNoCachedConn(err):
			// No connection to this host can take a stream: make one.
		case isExtendedConnectRefused(err):
			return t.dialHTTP1(ctx, u, o)
		default:
			return nil, err
		}
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := t.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, t.tlsConfig(u.Hostname(), "h2", "http/1.1"))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		// The server speaks HTTP/1.1 only: the WebSocket runs here.
		req, err := handshake.NewClientRequest(u, handshake.ClientOptions{Origin: o.Origin, Protocols: o.Protocols, Header: handshake.AppendHTTPHeader(nil, o.Header)})
		if err == nil {
			var c *Conn
			if c, err = clientHandshake(ctx, tc, req, o); err == nil {
				return c, nil
			}
		}
		tc.Close()
		return nil, err
	}
	// The hook adds tc to the HTTP/2 transport's pool (or closes it when a
	// connection to the host that can take a stream is there already) and
	// returns the transport, which sends on pooled connections only.
	rt := t.t1.TLSNextProto["h2"](u.Host, tc)
	t.h2.Store(&rt)
	c, err := t.connect(ctx, rt, u, cr, o)
	if err != nil && isExtendedConnectRefused(err) {
		return t.dialHTTP1(ctx, u, o)
	}
	return c, err
}

// dialHTTP1 is the fallback for a server that speaks HTTP/2 without
// extended CONNECT: a connection of its own, h2 not offered.
func (t *HTTP2Transport) dialHTTP1(ctx context.Context, u *url.URL, o *DialOptions) (*Conn, error) {
	o1 := *o
	o1.HTTP2 = nil
	o1.TLSConfig = t.tlsConfig(u.Hostname(), "http/1.1")
	o1.Dialer = t.Dialer
	return Dial(ctx, u.String(), &o1)
}

// isNoCachedConn reports net/http's error for "no pooled connection can
// take a stream", which it marks with this method for other packages.
func isNoCachedConn(err error) bool {
	var e interface{ IsHTTP2NoCachedConnError() }
	return errors.As(err, &e)
}

func isExtendedConnectRefused(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == errExtendedConnect {
			return true
		}
	}
	return false
}

// connect sends the extended CONNECT on rt and checks the answer. ctx
// bounds the handshake only: the stream lives on after it.
func (t *HTTP2Transport) connect(ctx context.Context, rt http.RoundTripper, u *url.URL, cr *handshake.ConnectRequest, o *DialOptions) (*Conn, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	s := &h2ClientStream{cancel: cancel}
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		s.local, s.remote = ci.Conn.LocalAddr(), ci.Conn.RemoteAddr()
	}})
	hu := *u
	hu.Scheme = "https"
	var pr *io.PipeReader
	pr, s.pw = io.Pipe()
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, hu.String(), pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(handshake.ProtocolPseudoHeader, "websocket")
	for _, f := range cr.Header {
		req.Header.Add(f.Name, f.Value)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		stop()
		s.pw.Close()
		cancel()
		return nil, contextCause(ctx, err)
	}
	s.body = resp.Body
	var h handshake.Header
	for name, vs := range resp.Header {
		for _, v := range vs {
			h = append(h, handshake.Field{Name: name, Value: v})
		}
	}
	res, err := cr.Check(resp.StatusCode, h)
	if err == nil && !stop() {
		err = ctx.Err()
	}
	if err != nil {
		stop()
		s.Close()
		return nil, err
	}
	if s.local == nil {
		s.local, s.remote = stringAddr(""), stringAddr(u.Host)
	}
	co := o.Options
	co.Deflate = res.Deflate
	return NewConn(s, wsframe.RoleClient, res.Protocol, nil, co), nil
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// h2ClientStream is a client's HTTP/2 stream as a net.Conn: Read reads the
// response body, Write writes the request body (through a pipe the
// transport reads, one flushed DATA frame per read), CloseWrite ends the
// request body (END_STREAM: a true half-close). Deadlines are timers of
// its own; one that passes ends the stream (RST_STREAM), since net/http
// cannot interrupt a body read or write and resume it: a read then
// returns ErrHTTP2ReadDeadline, which is not a timeout, so the WebSocket
// ends rather than waiting to be read again; a write returns
// os.ErrDeadlineExceeded, which breaks the connection as on TCP.
type h2ClientStream struct {
	body          io.ReadCloser
	pw            *io.PipeWriter
	cancel        context.CancelFunc
	local, remote net.Addr

	mu             sync.Mutex
	rtimer, wtimer *time.Timer
	rexp, wexp     atomic.Bool
	closeOnce      sync.Once
}

// ErrHTTP2ReadDeadline is returned by reads of a WebSocket over HTTP/2
// once a read deadline has passed: the stream was ended, because net/http
// cannot resume reading a response body it interrupted. It wraps
// os.ErrDeadlineExceeded but is not a timeout (net.Error), so the
// connection ends.
var ErrHTTP2ReadDeadline = &h2DeadlineError{}

type h2DeadlineError struct{}

func (*h2DeadlineError) Error() string {
	return "wsconn: HTTP/2 stream: a read deadline passed, which ends the stream (net/http cannot resume a body read)"
}
func (*h2DeadlineError) Unwrap() error   { return os.ErrDeadlineExceeded }
func (*h2DeadlineError) Timeout() bool   { return false }
func (*h2DeadlineError) Temporary() bool { return false }

// h2StreamEnded is a stream's end as wsconn understands a TCP connection's
// (io.EOF: a 1006 when no Close came), with net/http's reason kept.
type h2StreamEnded struct{ cause error }

func (e *h2StreamEnded) Error() string        { return "HTTP/2 stream ended: " + e.cause.Error() }
func (e *h2StreamEnded) Unwrap() error        { return e.cause }
func (e *h2StreamEnded) Is(target error) bool { return target == io.EOF }

func (s *h2ClientStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil {
		if s.rexp.Load() {
			return n, ErrHTTP2ReadDeadline
		}
		err = &h2StreamEnded{err}
	}
	return n, err
}

func (s *h2ClientStream) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	if err != nil {
		if s.wexp.Load() {
			return n, os.ErrDeadlineExceeded
		}
		err = &h2StreamEnded{err}
	}
	return n, err
}

func (s *h2ClientStream) expire(flag *atomic.Bool) {
	flag.Store(true)
	s.Close()
}

func (s *h2ClientStream) setTimer(tp **time.Timer, flag *atomic.Bool, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *tp != nil {
		(*tp).Stop()
	}
	switch {
	case t.IsZero():
	case !t.After(time.Now()):
		go s.expire(flag)
	case *tp == nil:
		*tp = time.AfterFunc(time.Until(t), func() { s.expire(flag) })
	default:
		(*tp).Reset(time.Until(t))
	}
}

func (s *h2ClientStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *h2ClientStream) SetReadDeadline(t time.Time) error {
	s.setTimer(&s.rtimer, &s.rexp, t)
	return nil
}

func (s *h2ClientStream) SetWriteDeadline(t time.Time) error {
	s.setTimer(&s.wtimer, &s.wexp, t)
	return nil
}

// CloseWrite ends the request body: END_STREAM after what was written.
func (s *h2ClientStream) CloseWrite() error { return s.pw.Close() }

// Close ends the stream: END_STREAM on the request body, and RST_STREAM
// (CANCEL) when the server has not ended the response yet.
func (s *h2ClientStream) Close() error {
	s.closeOnce.Do(func() {
		s.pw.Close()
		if s.body != nil {
			s.body.Close()
		}
		s.cancel()
		s.mu.Lock()
		for _, t := range []*time.Timer{s.rtimer, s.wtimer} {
			if t != nil {
				t.Stop()
			}
		}
		s.mu.Unlock()
	})
	return nil
}

func (s *h2ClientStream) LocalAddr() net.Addr  { return s.local }
func (s *h2ClientStream) RemoteAddr() net.Addr { return s.remote }
