// Package wsfsm is the front door of the wsfsm WebSocket library (RFC 6455,
// RFC 7692): one import for a server inside net/http, a raw-TCP server, a
// client and a broadcast hub.
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := wsfsm.Upgrade(w, r, nil) // answers a bad handshake itself
//		if err != nil {
//			return
//		}
//		defer c.Close(wsfsm.CloseNormal, "")
//		for {
//			op, msg, err := c.ReadMessage()
//			if err != nil {
//				return // a *wsfsm.CloseError once the peer closed
//			}
//			c.WriteMessage(op, msg)
//		}
//	})
//
//	c, err := wsfsm.Dial(ctx, "ws://localhost:8080/echo", nil)
//
// Everything here is a name for what the lower packages define, so that
// one import is enough; their documentation is the reference and says the
// same of each type and function:
//
//   - wsfsm/wsconn: the connection (Conn: reading, writing, closing;
//     Dial; options) and the sans-I/O protocol core (Session) that any
//     runtime drives;
//   - wsfsm/server: Upgrade inside a net/http handler, and Server, which
//     accepts raw TCP itself, both with the same per-connection Options;
//   - wsfsm/hub: broadcast by topic to many connections, one framing per
//     message, slow subscribers held by a policy;
//   - wsfsm/handshake and wsfsm/wsframe: the opening handshake and the
//     frame parser alone, without I/O, generated from declared state
//     machines.
//
// # Ownership of bytes
//
// ReadMessage returns memory the caller owns. AppendMessage appends to the
// caller's buffer (no allocation once it has grown). A Handler's
// OnMessage, Conn.Run's function and the OnPing, OnPong and OnClose hooks
// borrow memory for the call: copy what you keep. With a goroutine per
// connection it is the connection's own buffer; on the event loop
// (Server.EventLoop) it is the loop's, which serves other connections
// once the call has returned. Publish, Send, WriteMessage and
// NewPreparedMessage are done with the caller's slice when they return.
// ReadMessage, AppendMessage and NextReader never hand out memory that
// another connection uses.
//
// # Concurrency
//
// One goroutine reads a Conn at a time; any number may write (frames never
// interleave). Every write is bounded by Options.WriteTimeout (10 s by
// default) and Close by Options.CloseTimeout (5 s). Pings are answered by
// whoever reads, without waiting for writers.
package wsfsm

import (
	"context"
	"net/http"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Connections (package wsconn).
type (
	// Conn is a WebSocket connection; see wsconn.Conn for its methods
	// (ReadMessage, AppendMessage, NextReader, Run, WriteMessage,
	// NextWriter, WritePrepared, Ping, Close, ...): go doc lists them
	// with "go doc github.com/wsfsm/wsfsm/wsconn.Conn", not through the
	// alias.
	Conn = wsconn.Conn
	// ConnOptions configure a connection: message limit, timeouts,
	// keepalive, hooks. See wsconn.Options.
	ConnOptions = wsconn.Options
	// DialOptions configure Dial: subprotocols, header, TLS, proxy,
	// compression, and the connection's options. See wsconn.DialOptions.
	DialOptions = wsconn.DialOptions
	// CloseError is the error reads return once the connection is closed:
	// the peer's close code and reason, or CloseAbnormal without a
	// close handshake.
	CloseError = wsconn.CloseError
	// HandshakeError is Dial's error when the server refused the
	// handshake: its status, header and the start of its body.
	HandshakeError = wsconn.HandshakeError
	// PreparedMessage is a message framed once and written to many
	// connections (Conn.WritePrepared).
	PreparedMessage = wsconn.PreparedMessage
	// Opcode is a message type: TextMessage or BinaryMessage.
	Opcode = wsframe.Opcode
	// CloseCode is the status code of a Close (RFC 6455 §7.4).
	CloseCode = wsframe.CloseCode
)

// Message types.
const (
	TextMessage   = wsframe.OpText
	BinaryMessage = wsframe.OpBinary
)

// Close codes (RFC 6455 §7.4.1, IANA registry). CloseNoStatus and
// CloseAbnormal are never sent: they report a Close without a code and a
// connection that ended without a Close.
const (
	CloseNormal             = wsframe.CloseNormal
	CloseGoingAway          = wsframe.CloseGoingAway
	CloseProtocolError      = wsframe.CloseProtocolError
	CloseUnsupportedData    = wsframe.CloseUnsupportedData
	CloseNoStatus           = wsframe.CloseNoStatus
	CloseAbnormal           = wsframe.CloseAbnormal
	CloseInvalidPayload     = wsframe.CloseInvalidPayload
	ClosePolicyViolation    = wsframe.ClosePolicyViolation
	CloseTooBig             = wsframe.CloseTooBig
	CloseMandatoryExtension = wsframe.CloseMandatoryExtension
	CloseInternalError      = wsframe.CloseInternalError
	CloseServiceRestart     = wsframe.CloseServiceRestart
	CloseTryAgainLater      = wsframe.CloseTryAgainLater
	CloseBadGateway         = wsframe.CloseBadGateway
)

// Defaults of ConnOptions.
const (
	DefaultMaxMessageSize = wsconn.DefaultMaxMessageSize
	DefaultWriteTimeout   = wsconn.DefaultWriteTimeout
	DefaultCloseTimeout   = wsconn.DefaultCloseTimeout
)

// Errors a connection returns; see wsconn.
var (
	// ErrPingTimeout: the peer did not answer a keepalive ping in time.
	ErrPingTimeout = wsconn.ErrPingTimeout
	// ErrCloseTimeout: Close could not complete within the close timeout.
	ErrCloseTimeout = wsconn.ErrCloseTimeout
	// ErrClosed: this end's Close was sent already; nothing more can be.
	ErrClosed = wsconn.ErrClosed
	// ErrServerClosed is returned by Server.Serve after Shutdown.
	ErrServerClosed = server.ErrServerClosed
	// ErrHubClosed is returned by a closed hub or subscriber.
	ErrHubClosed = hub.ErrClosed
)

// Dial opens a WebSocket connection to a ws:// or wss:// URL (through the
// environment's HTTP proxy, if any); o may be nil. See wsconn.Dial.
func Dial(ctx context.Context, url string, o *DialOptions) (*Conn, error) {
	return wsconn.Dial(ctx, url, o)
}

// ReadJSON reads the next message and decodes it as JSON into v.
func ReadJSON(c *Conn, v any) error { return wsconn.ReadJSON(c, v) }

// WriteJSON sends v as one text message of JSON.
func WriteJSON(c *Conn, v any) error { return wsconn.WriteJSON(c, v) }

// NewPreparedMessage frames data once for WritePrepared on any number of
// connections.
func NewPreparedMessage(op Opcode, data []byte) (*PreparedMessage, error) {
	return wsconn.NewPreparedMessage(op, data)
}

// Servers (package server).
type (
	// ServerOptions configure the connections a server accepts, with
	// Upgrade or with Server: origin check, subprotocols, compression,
	// and ConnOptions. See server.Options.
	ServerOptions = server.Options
	// Server accepts WebSocket connections on raw TCP and runs each with a
	// Handler; Shutdown sends 1001 to every connection. See server.Server.
	Server = server.Server
	// LoopOptions switch a Server from a goroutine per connection to the
	// event-loop runtime (Server.EventLoop: epoll on Linux, about 0.7 KiB
	// per idle connection, the same Handler). See server.LoopOptions.
	LoopOptions = server.LoopOptions
	// Handler serves a connection: OnOpen, OnMessage for each message
	// (data borrowed for the call), OnClose with why it ended.
	Handler = server.Handler
	// Funcs adapts functions to Handler; nil ones do nothing.
	Funcs = server.Funcs
	// DeflateConfig is the server's terms for permessage-deflate
	// (ServerOptions.Deflate); see handshake.DeflateConfig.
	DeflateConfig = handshake.DeflateConfig
	// DeflateParams are the parameters a client offers
	// (DialOptions.DeflateOffer); see handshake.DeflateParams.
	DeflateParams = handshake.DeflateParams
	// Request is the opening handshake's request as the origin check
	// (ServerOptions.CheckOrigin) sees it.
	Request = handshake.Request
	// HTTP2Transport opens WebSockets as streams of shared HTTP/2
	// connections (DialOptions.HTTP2, RFC 8441).
	HTTP2Transport = wsconn.HTTP2Transport
)

// WindowBitsAny in DeflateParams.ClientMaxWindowBits offers
// client_max_window_bits without a value, as browsers do.
const WindowBitsAny = handshake.WindowBitsAny

// Upgrade answers a WebSocket handshake inside a net/http handler and
// returns the connection; a bad request gets its HTTP error here. Header
// fields set on w before the call go out with the answer. o may be nil.
// See server.Upgrade, which also answers HTTP/2's extended CONNECT.
func Upgrade(w http.ResponseWriter, r *http.Request, o *ServerOptions) (*Conn, error) {
	return server.Upgrade(w, r, o)
}

// ServeConn runs an upgraded connection with h until it ends (OnOpen, the
// read loop, OnClose).
func ServeConn(c *Conn, h Handler) { server.ServeConn(c, h) }

// Wait blocks until c has ended. A handler that upgraded an HTTP/2 request
// and reads the connection itself calls it before returning (the stream
// lives only while the handler runs); see server.Wait.
func Wait(c *Conn) { server.Wait(c) }

// Broadcast (package hub).
type (
	// Hub broadcasts messages by topic: each is framed once and queued
	// for every subscriber, whose own writer drains its bounded queue.
	// See hub.Hub.
	Hub = hub.Hub
	// HubOptions configure a Hub: queue size, full-queue policy, timeouts,
	// the broker that links hubs of several processes. See hub.Options.
	HubOptions = hub.Options
	// Subscriber is one connection's membership in a hub.
	Subscriber = hub.Subscriber
	// HubMessage is what is published to a topic (hub.Message).
	HubMessage = hub.Message
	// HubStats are a hub's counters.
	HubStats = hub.Stats
	// Broker carries publications between the hubs of several processes
	// (the module github.com/wsfsm/wsfsm/natsbroker is one, over NATS).
	Broker = hub.Broker
	// Policy says what happens to a message that finds a subscriber's
	// queue full.
	Policy = hub.Policy
)

// Full-queue policies of a hub; see hub.Policy.
const (
	PolicyDropOldest = hub.DropOldest
	PolicyDropNewest = hub.DropNewest
	PolicyCloseSlow  = hub.CloseSlow
	PolicyCoalesce   = hub.Coalesce
)

// NewHub returns a hub; see hub.New.
func NewHub(o HubOptions) (*Hub, error) { return hub.New(o) }
