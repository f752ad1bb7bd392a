package wsconn_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// connectProxy is an HTTP proxy on loopback that serves CONNECT tunnels,
// asking for Basic credentials when auth is set.
func connectProxy(t *testing.T, auth string) (*url.URL, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var tunnels atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					io.WriteString(nc, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
					return
				}
				if auth != "" && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)) {
					io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
					return
				}
				target, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(nc, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer target.Close()
				tunnels.Add(1)
				io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() {
					io.Copy(target, br)
					target.Close() // the client went: so does the tunnel
				}()
				io.Copy(nc, target)
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, &tunnels
}

// Dial through an HTTP proxy: a CONNECT tunnel, with credentials from the
// proxy URL; a proxy that refuses is an error naming its status.
func TestDialThroughProxy(t *testing.T) {
	s := startServer(t, server.Options{})
	proxy, tunnels := connectProxy(t, "user:secret")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	withAuth := *proxy
	withAuth.User = url.UserPassword("user", "secret")
	c, err := wsconn.Dial(ctx, s.url, &wsconn.DialOptions{Proxy: http.ProxyURL(&withAuth)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.WriteMessage(wsframe.OpText, []byte("through the tunnel")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "through the tunnel" {
		t.Fatalf("%q %v", got, err)
	}
	if tunnels.Load() != 1 {
		t.Errorf("%d tunnels opened, want 1", tunnels.Load())
	}

	_, err = wsconn.Dial(ctx, s.url, &wsconn.DialOptions{Proxy: http.ProxyURL(proxy)})
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Errorf("a proxy asking for credentials: %v", err)
	}
	// The default reads the environment, which never proxies loopback.
	c2, err := wsconn.Dial(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.CloseNow()
	if tunnels.Load() != 1 {
		t.Errorf("a loopback URL went through the proxy")
	}
}
