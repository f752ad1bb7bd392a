package wsconn

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
)

// proxyFor returns the HTTP proxy to reach u through, or nil for a direct
// connection: o.Proxy, else the environment (HTTP_PROXY, HTTPS_PROXY,
// NO_PROXY, as net/http reads them: a ws:// URL is looked up as http://,
// wss:// as https://; loopback addresses are never proxied).
func proxyFor(u *url.URL, o *DialOptions) (*url.URL, error) {
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return proxy(&http.Request{URL: &url.URL{Scheme: scheme, Host: u.Host}, Header: http.Header{}})
}

// dialProxy opens a tunnel to addr through the HTTP proxy p with CONNECT
// (RFC 9110 §9.3.6), authenticating with p's user information if any.
func dialProxy(ctx context.Context, netDial func(context.Context, string, string) (net.Conn, error), p *url.URL, addr string) (net.Conn, error) {
	if p.Scheme != "http" {
		return nil, fmt.Errorf("wsconn: proxy %s: only http:// proxies are supported", p.Redacted())
	}
	proxyAddr := p.Host
	if p.Port() == "" {
		proxyAddr = net.JoinHostPort(p.Hostname(), "80")
	}
	nc, err := netDial(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("wsconn: proxy %s: %w", p.Redacted(), err)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	head := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if p.User != nil {
		pass, _ := p.User.Password()
		head += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.User.Username()+":"+pass)) + "\r\n"
	}
	head += "\r\n"
	fail := func(err error) (net.Conn, error) {
		nc.Close()
		return nil, fmt.Errorf("wsconn: proxy %s: %w", p.Redacted(), contextCause(ctx, err))
	}
	if _, err := nc.Write([]byte(head)); err != nil {
		return fail(err)
	}
	// The proxy's answer is an HTTP response head, read with the same
	// generated reader as the handshake's; a tunnel carries nothing before
	// the client speaks, so no byte may follow the head.
	r := handshake.NewResponseReader(handshake.Limits{})
	buf := make([]byte, 1024)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			rest, done, ferr := r.Feed(buf[:n])
			if ferr != nil {
				return fail(ferr)
			}
			if done {
				resp := r.Response()
				switch {
				case resp.Status/100 != 2:
					return fail(fmt.Errorf("CONNECT %s: %d %s", addr, resp.Status, resp.Reason))
				case len(rest) > 0:
					return fail(fmt.Errorf("CONNECT %s: %d bytes after the answer", addr, len(rest)))
				}
				if !stop() {
					return fail(ctx.Err())
				}
				nc.SetDeadline(time.Time{})
				return nc, nil
			}
		}
		if err != nil {
			return fail(err)
		}
	}
}
