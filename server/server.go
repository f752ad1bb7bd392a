// Package server runs WebSocket servers: Server accepts raw TCP and reads
// the opening handshake itself; Upgrade turns a request inside any net/http
// handler into a connection. Both validate through wsfsm/handshake and run
// connections on wsfsm/wsconn, one goroutine each; the root package wsfsm
// names both. A Server with EventLoop set runs them on a few epoll loops
// instead: the same Handler, and no goroutine, read buffer or timer per
// connection (LoopOptions). A Handler's OnMessage borrows data for the
// call (the connection's own buffer, or on the event loop a pooled one):
// copy what you keep.
//
// # WebSockets over HTTP/2
//
// Upgrade also answers the HTTP/2 form of the handshake (RFC 8441): an
// extended CONNECT with :protocol websocket, answered with a 200, after
// which the WebSocket is one stream of the HTTP/2 connection. Browsers
// (Chrome 121 and later, Firefox) use it as soon as an HTTP/2 server
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL: no TCP and TLS handshake
// of its own, one connection per page. Go 1.26's net/http advertises it
// only when the process runs with the environment variable
//
//	GODEBUG=http2xconnect=1
//
// (default off, golang/go#71128: browsers would then open every WebSocket
// that way, which libraries that only hijack HTTP/1.1 cannot answer).
// net/http reads the variable itself, once, at start: it is not a
// registered setting, so a //go:debug line cannot set it, and it applies
// to every HTTP/2 server of the process. Without it, browsers keep using
// HTTP/1.1 for WebSockets and nothing here changes. Once golang/go#53208
// lands (http.HTTP2Config.EnableConnectProtocol, accepted), a server opts
// in with that field instead of the variable; Upgrade stays as it is.
//
// On HTTP/2 the connection is a stream that lives only while the handler
// runs: the handler must not return before the connection has ended.
// ServeConn blocks until then; a handler that reads the connection itself ends
// with Wait(c). What differs from a hijacked TCP connection: NetConn
// returns the stream (Read is the request body, Write the response body,
// flushed), not a socket; CloseWrite on it ends the response, and net/http
// then ends the request body too, so there is no half-close; a read
// deadline that passes ends the connection (an error wrapping ErrHTTP2
// and os.ErrDeadlineExceeded) instead of letting a later read resume; a
// stream reset or the loss of the connection reads as 1006, like a TCP
// drop. The http.Server's ReadTimeout and WriteTimeout stop applying at
// the upgrade; every Options field applies as over HTTP/1.1.
package server

import (
	"context"
	"errors"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Handler serves connections. The server calls OnOpen once, OnMessage for
// each message (on the connection's read loop: the loop always runs, so
// pings are answered while other goroutines write), and OnClose once with
// why the connection ended (a *wsconn.CloseError after a close handshake).
// OnMessage's data is valid during the call only: copy what you keep.
type Handler interface {
	OnOpen(c *wsconn.Conn)
	OnMessage(c *wsconn.Conn, op wsframe.Opcode, data []byte)
	OnClose(c *wsconn.Conn, err error)
}

// Funcs adapts functions to Handler; nil ones do nothing.
type Funcs struct {
	Open    func(c *wsconn.Conn)
	Message func(c *wsconn.Conn, op wsframe.Opcode, data []byte)
	Close   func(c *wsconn.Conn, err error)
}

func (f Funcs) OnOpen(c *wsconn.Conn) {
	if f.Open != nil {
		f.Open(c)
	}
}

func (f Funcs) OnMessage(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
	if f.Message != nil {
		f.Message(c, op, data)
	}
}

func (f Funcs) OnClose(c *wsconn.Conn, err error) {
	if f.Close != nil {
		f.Close(c, err)
	}
}

// Options configure connections, whether a Server accepted them or Upgrade
// did: every field applies to both. Zero fields take the defaults. What
// only the raw-TCP Server does (reading the request head itself, counting
// connections) is configured on Server; behind net/http, the http.Server
// reads the request (ReadHeaderTimeout, MaxHeaderBytes) and the handler
// decides whom to upgrade.
type Options struct {
	// Handshake options: Origin policy (default: same origin, or no
	// Origin), subprotocols.
	CheckOrigin    func(origin string, r *handshake.Request) bool
	Protocols      []string
	SelectProtocol func(offered []string) string
	// Deflate accepts permessage-deflate (RFC 7692) offers on these terms;
	// nil (the default, as in gorilla/websocket and node's ws) declines
	// them. &handshake.DeflateConfig{} takes over context both ways (best
	// ratio on streams of similar messages; about 40 KiB per idle
	// connection); ServerNoContextTakeover and ClientNoContextTakeover
	// trade ratio for memory (nothing held between messages). The
	// agreement replaces Conn.Deflate.
	Deflate *handshake.DeflateConfig
	// Conn configures each connection: keepalive pings (PingInterval,
	// PingTimeout) and IdleTimeout, which run from the upgrade on; the
	// message size limit (MaxMessageSize), read buffer, write and close
	// timeouts; hooks for pings, pongs and the peer's Close.
	Conn wsconn.Options
	// Logf logs accept errors and dropped connections (default log.Printf).
	Logf func(format string, args ...any)
}

// Default options.
const DefaultHandshakeTimeout = 10 * time.Second

func (o *Options) handshakeOptions() *handshake.ServerOptions {
	return &handshake.ServerOptions{CheckOrigin: o.CheckOrigin, Protocols: o.Protocols, SelectProtocol: o.SelectProtocol, Deflate: o.Deflate}
}

// connOptions are the connection's options with the agreement of the
// handshake.
func (o *Options) connOptions(up *handshake.Agreement) wsconn.Options {
	co := o.Conn
	co.Deflate = up.Deflate
	return co
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Server accepts WebSocket connections on raw TCP.
type Server struct {
	Handler Handler
	Options Options
	// HandshakeTimeout bounds reading the request head and answering it
	// (default 10 s): a slow sender gets 408 and is dropped.
	HandshakeTimeout time.Duration
	// Limits bound the request head (size, header count, line length).
	Limits handshake.Limits
	// MaxConns bounds open connections, handshakes included; over it, new
	// ones get 503. 0: no bound.
	MaxConns int
	// EventLoop, when set, serves with the event-loop runtime (epoll,
	// Linux, plain TCP): no goroutine, read buffer or timer per
	// connection, the same Handler. See LoopOptions; nil (the default): a
	// goroutine per connection.
	EventLoop *LoopOptions

	loop     *loopServer
	mu       sync.Mutex
	ln       net.Listener
	conns    map[*wsconn.Conn]struct{}
	raw      map[net.Conn]struct{} // connections still in the handshake
	wg       sync.WaitGroup
	open     atomic.Int64
	shutdown atomic.Bool
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// ListenAndServe listens on the TCP address and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Addr is the listener's address once serving.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections on ln until Shutdown. Accept errors are retried
// with a backoff from 5 ms to 1 s (running out of file descriptors must not
// kill the server).
func (s *Server) Serve(ln net.Listener) error {
	if s.EventLoop != nil {
		if err, ok := s.serveLoop(ln); ok {
			return err
		}
	}
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.ln = ln
	if s.conns == nil {
		s.conns = map[*wsconn.Conn]struct{}{}
		s.raw = map[net.Conn]struct{}{}
	}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.Options.logf("server: accept: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			continue
		}
		go s.serveConn(nc)
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	// Under mu, as Shutdown's check of the flag: once Shutdown has set it,
	// no Add can race its Wait.
	s.wg.Add(1)
	s.raw[nc] = struct{}{}
	return true
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	o := &s.Options
	n := s.open.Add(1)
	defer s.open.Add(-1)
	var c *wsconn.Conn
	if s.MaxConns > 0 && n > int64(s.MaxConns) {
		rejectBusy(nc, o)
	} else {
		c = s.acceptRaw(nc)
	}
	s.mu.Lock()
	delete(s.raw, nc)
	if c != nil && !s.shutdown.Load() {
		s.conns[c] = struct{}{}
	} else if c != nil {
		c.Close(wsframe.CloseGoingAway, "server shutting down")
		c = nil
	}
	s.mu.Unlock()
	if c == nil {
		nc.Close()
		return
	}
	run(c, s.Handler)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// run drives a connection: OnOpen, the read loop, OnClose.
func run(c *wsconn.Conn, h Handler) {
	h.OnOpen(c)
	err := c.Run(func(op wsframe.Opcode, data []byte) { h.OnMessage(c, op, data) })
	select {
	case <-c.Done():
		// The read side ended: the connection is closed, or closing with
		// its handshake and linger in the background.
	default:
		c.CloseNow() // Run stopped on a read deadline
	}
	h.OnClose(c, err)
}

// Shutdown stops accepting, sends Close 1001 to every open connection and
// waits for their handlers to return or for ctx. When ctx ends first it
// closes the connections that are left without waiting for their handlers
// (one blocked in OnMessage must not hold Shutdown) and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
	if ls := s.loop; ls != nil {
		s.mu.Unlock()
		return ls.shutdown(ctx)
	}
	for nc := range s.raw {
		// Not Close: one whose 101 is out already is about to be
		// registered, and then gets its 1001 (serveConn). A read still
		// waiting for a request head ends now.
		nc.SetReadDeadline(time.Unix(1, 0))
	}
	conns := make([]*wsconn.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.Close(wsframe.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.CloseNow()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Open is the number of connections being served, the handshakes included.
func (s *Server) Open() int { return int(s.open.Load()) }
