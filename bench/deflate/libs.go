package deflatebench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Mode is the context-takeover agreement of a row.
type Mode int

const (
	Takeover   Mode = iota // context takeover both ways
	NoTakeover             // server_no_context_takeover and client_no_context_takeover
)

func (m Mode) String() string {
	if m == Takeover {
		return "ctx"
	}
	return "noctx"
}

const readLimit = 64 << 20

// Client is the client end of a connection: it writes text messages and
// reads messages, the library's usual way.
type Client interface {
	Write(p []byte) error
	// Read returns the next message; the slice is valid until the next Read.
	Read() ([]byte, error)
	Close() error
}

// Lib is one library under test: an echo server handler and a client that
// runs its handshake over a given connection. Every message is compressed
// (each library's size threshold set to its minimum), at each library's
// default level (flate level 1, "best speed", in all four).
type Lib struct {
	Name, Module string
	Modes        []Mode
	Handler      func(Mode) http.Handler
	Dial         func(nc net.Conn, url string, m Mode) (Client, error)
}

// Libs lists the libraries in table order.
var Libs = []Lib{
	{Name: "wsfsm", Module: "github.com/wsfsm/wsfsm", Modes: []Mode{Takeover, NoTakeover}, Handler: wsfsmHandler, Dial: wsfsmDial},
	{Name: "gorilla", Module: "github.com/gorilla/websocket", Modes: []Mode{NoTakeover}, Handler: gorillaHandler, Dial: gorillaDial},
	{Name: "coder", Module: "github.com/coder/websocket", Modes: []Mode{Takeover, NoTakeover}, Handler: coderHandler, Dial: coderDial},
	{Name: "gws", Module: "github.com/lxzan/gws", Modes: []Mode{Takeover, NoTakeover}, Handler: gwsHandler, Dial: gwsDial},
}

// Version is the module version in this binary's build info.
func (l Lib) Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == l.Module {
			if d.Replace != nil {
				return "this tree"
			}
			return d.Version
		}
	}
	if bi.Main.Path == l.Module {
		return "this tree"
	}
	return "?"
}

// --- wsfsm ---

func wsfsmConfig(m Mode) *handshake.DeflateConfig {
	return &handshake.DeflateConfig{ServerNoContextTakeover: m == NoTakeover, ClientNoContextTakeover: m == NoTakeover}
}

func wsfsmHandler(m Mode) http.Handler {
	o := &server.Options{
		Deflate:     wsfsmConfig(m),
		CheckOrigin: func(string, *handshake.Request) bool { return true },
		Conn:        wsconn.Options{MaxMessageSize: readLimit, CompressThreshold: -1},
		Logf:        func(string, ...any) {},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, o)
		if err != nil {
			return
		}
		server.ServeConn(c, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }})
	})
}

type wsfsmClient struct{ c *wsconn.Conn }

func (c wsfsmClient) Write(p []byte) error { return c.c.WriteMessage(wsframe.OpText, p) }
func (c wsfsmClient) Read() ([]byte, error) {
	_, p, err := c.c.ReadMessage()
	return p, err
}
func (c wsfsmClient) Close() error { return c.c.CloseNow() }

// wsfsmDial is wsconn.Dial over a given connection (DialOptions.NetDial
// hands it over).
func wsfsmDial(nc net.Conn, rawURL string, m Mode) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, rawURL, &wsconn.DialOptions{
		NetDial:      func(context.Context, string, string) (net.Conn, error) { return nc, nil },
		DeflateOffer: &handshake.DeflateParams{ServerNoContextTakeover: m == NoTakeover, ClientNoContextTakeover: m == NoTakeover},
		Options:      wsconn.Options{MaxMessageSize: readLimit, CompressThreshold: -1},
	})
	if err != nil {
		return nil, err
	}
	return wsfsmClient{c}, nil
}

// --- gorilla/websocket: no context takeover only ---

func gorillaHandler(m Mode) http.Handler {
	up := &gorilla.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(readLimit)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})
}

type gorillaClient struct{ c *gorilla.Conn }

func (c gorillaClient) Write(p []byte) error { return c.c.WriteMessage(gorilla.TextMessage, p) }
func (c gorillaClient) Read() ([]byte, error) {
	_, p, err := c.c.ReadMessage()
	return p, err
}
func (c gorillaClient) Close() error { return c.c.NetConn().Close() }

func gorillaDial(nc net.Conn, url string, m Mode) (Client, error) {
	if m != NoTakeover {
		return nil, errors.New("gorilla: no context takeover only")
	}
	d := gorilla.Dialer{
		NetDialContext:    func(context.Context, string, string) (net.Conn, error) { return nc, nil },
		EnableCompression: true,
		HandshakeTimeout:  10 * time.Second,
	}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	return gorillaClient{c}, nil
}

// --- coder/websocket ---

func coderMode(m Mode) coder.CompressionMode {
	if m == Takeover {
		return coder.CompressionContextTakeover
	}
	return coder.CompressionNoContextTakeover
}

func coderHandler(m Mode) http.Handler {
	o := &coder.AcceptOptions{CompressionMode: coderMode(m), CompressionThreshold: 1, InsecureSkipVerify: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, o)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(readLimit)
		ctx := context.Background()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	})
}

type coderClient struct{ c *coder.Conn }

func (c coderClient) Write(p []byte) error {
	return c.c.Write(context.Background(), coder.MessageText, p)
}
func (c coderClient) Read() ([]byte, error) {
	_, p, err := c.c.Read(context.Background())
	return p, err
}
func (c coderClient) Close() error { return c.c.CloseNow() }

type ncKey struct{}

// One transport for every coder client: its dialer hands out the
// connection carried by the request's context.
var coderHTTP = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		if nc, ok := ctx.Value(ncKey{}).(net.Conn); ok {
			return nc, nil
		}
		return nil, errors.New("no connection in context")
	},
	DisableKeepAlives: true,
}}

func coderDial(nc net.Conn, url string, m Mode) (Client, error) {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), ncKey{}, nc), 10*time.Second)
	defer cancel()
	c, _, err := coder.Dial(ctx, url, &coder.DialOptions{HTTPClient: coderHTTP, CompressionMode: coderMode(m), CompressionThreshold: 1})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	return coderClient{c}, nil
}

// --- gws ---

func gwsDeflate(m Mode) gws.PermessageDeflate {
	return gws.PermessageDeflate{Enabled: true, Threshold: 1, ServerContextTakeover: m == Takeover, ClientContextTakeover: m == Takeover}
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(s *gws.Conn, msg *gws.Message) {
	s.WriteMessage(msg.Opcode, msg.Bytes())
	msg.Close()
}

func gwsHandler(m Mode) http.Handler {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{PermessageDeflate: gwsDeflate(m), ReadMaxPayloadSize: readLimit})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
}

// gwsClient hands messages from gws's read loop (event callbacks) to Read
// over a channel; a message's pooled buffer goes back at the next Read.
type gwsClient struct {
	c    *gws.Conn
	msgs chan *gws.Message
	done chan struct{} // closed by the read loop's end (OnClose)
	quit chan struct{} // closed by Close
	err  error
	last *gws.Message
}

type gwsClientEvents struct {
	gws.BuiltinEventHandler
	cl *gwsClient
}

func (e gwsClientEvents) OnMessage(_ *gws.Conn, msg *gws.Message) {
	select {
	case e.cl.msgs <- msg:
	case <-e.cl.quit:
		msg.Close()
	}
}

func (e gwsClientEvents) OnClose(_ *gws.Conn, err error) {
	e.cl.err = err
	close(e.cl.done)
}

func (c *gwsClient) Write(p []byte) error { return c.c.WriteMessage(gws.OpcodeText, p) }
func (c *gwsClient) Read() ([]byte, error) {
	if c.last != nil {
		c.last.Close()
		c.last = nil
	}
	select {
	case m := <-c.msgs:
		c.last = m
		return m.Bytes(), nil
	case <-c.done:
		return nil, fmt.Errorf("gws: closed: %w", c.err)
	}
}
func (c *gwsClient) Close() error {
	close(c.quit)
	return c.c.NetConn().Close()
}

func gwsDial(nc net.Conn, url string, m Mode) (Client, error) {
	cl := &gwsClient{msgs: make(chan *gws.Message), done: make(chan struct{}), quit: make(chan struct{})}
	c, _, err := gws.NewClientFromConn(gwsClientEvents{cl: cl}, &gws.ClientOption{
		Addr:               url,
		PermessageDeflate:  gwsDeflate(m),
		ReadMaxPayloadSize: readLimit,
		HandshakeTimeout:   10 * time.Second,
	}, nc)
	if err != nil {
		return nil, err
	}
	cl.c = c
	go c.ReadLoop()
	return cl, nil
}
