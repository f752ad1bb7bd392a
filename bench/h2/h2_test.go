// Package h2 compares a WebSocket over HTTP/2 (RFC 8441 extended CONNECT)
// with one over HTTP/1.1: echo round trips and the cost of opening one.
package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// The benchmarks compare a WebSocket over HTTP/2 with one over HTTP/1.1,
// both over TLS to the same httptest server on loopback, whose handler is
// server.Upgrade then server.ServeConn echoing. They need the process to offer
// extended CONNECT (net/http reads GODEBUG once, at start):
//
//	GODEBUG=http2xconnect=1 go -C bench test -run '^$' -bench . ./h2

type h2Server struct{ *httptest.Server }

func benchServer(b *testing.B) (*h2Server, *tls.Config) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		b.Skip("run with GODEBUG=http2xconnect=1")
	}
	echo := server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, &server.Options{Logf: func(string, ...any) {}})
		if err != nil {
			return
		}
		server.ServeConn(c, echo) // on HTTP/2 the stream lives while the handler runs
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	b.Cleanup(s.Close)
	cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = nil // the HTTP/1.1 Dial offers no ALPN: the server picks HTTP/1.1
	return &h2Server{s}, cfg
}

func (s *h2Server) url() string { return "wss://" + s.Listener.Addr().String() + "/" }

// transport is an HTTP2Transport that trusts the test server.
func (s *h2Server) transport(b *testing.B) *wsconn.HTTP2Transport {
	tr := &wsconn.HTTP2Transport{TLSConfig: s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	b.Cleanup(tr.CloseIdleConnections)
	return tr
}

// BenchmarkHTTP2EchoRoundTrip: one message out and back per op, on one
// open connection.
func BenchmarkHTTP2EchoRoundTrip(b *testing.B) {
	s, cfg := benchServer(b)
	for _, size := range []int{128, 16 << 10} {
		msg := bytes.Repeat([]byte("x"), size)
		for _, proto := range []string{"http1.1", "http2"} {
			b.Run(proto+"/"+byteSize(size), func(b *testing.B) {
				o := &wsconn.DialOptions{TLSConfig: cfg}
				if proto == "http2" {
					o = &wsconn.DialOptions{HTTP2: s.transport(b)}
				}
				c, err := wsconn.Dial(context.Background(), s.url(), o)
				if err != nil {
					b.Fatal(err)
				}
				defer c.CloseNow()
				buf := make([]byte, 0, size)
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.WriteMessage(wsframe.OpBinary, msg); err != nil {
						b.Fatal(err)
					}
					if _, buf, err = c.AppendMessage(buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkHTTP2Setup: opening a WebSocket (and dropping it) per op. Over
// HTTP/1.1 that is a TCP connection, a TLS handshake and the upgrade; over
// HTTP/2 on a fresh transport the same plus the HTTP/2 preface and
// SETTINGS; over HTTP/2 on a connection already open, one stream.
func BenchmarkHTTP2Setup(b *testing.B) {
	s, cfg := benchServer(b)
	dial := func(b *testing.B, o *wsconn.DialOptions) {
		c, err := wsconn.Dial(context.Background(), s.url(), o)
		if err != nil {
			b.Fatal(err)
		}
		c.CloseNow()
	}
	b.Run("http1.1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dial(b, &wsconn.DialOptions{TLSConfig: cfg})
		}
	})
	b.Run("http2-new-connection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := s.transport(b)
			dial(b, &wsconn.DialOptions{HTTP2: tr})
			tr.CloseIdleConnections()
		}
	})
	b.Run("http2-stream", func(b *testing.B) {
		tr := s.transport(b)
		dial(b, &wsconn.DialOptions{HTTP2: tr}) // the connection is open
		b.ReportAllocs()
		for b.Loop() {
			dial(b, &wsconn.DialOptions{HTTP2: tr})
		}
	})
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
