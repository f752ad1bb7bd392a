package wsfsm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/wsfsm/wsfsm"
)

// An echo server inside a net/http handler, and a client that checks one
// echo.
func ExampleUpgrade() {
	echo := func(w http.ResponseWriter, r *http.Request) {
		c, err := wsfsm.Upgrade(w, r, nil) // a bad handshake gets its HTTP error here
		if err != nil {
			return
		}
		defer c.Close(wsfsm.CloseNormal, "")
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return // a *wsfsm.CloseError once the client closed
			}
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(echo)) // or http.HandleFunc and http.ListenAndServe
	defer srv.Close()

	c, err := wsfsm.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsfsm.CloseNormal, "")
	c.WriteMessage(wsfsm.TextMessage, []byte("hello"))
	_, msg, err := c.ReadMessage()
	fmt.Println(string(msg), err)
	// Output: hello <nil>
}

// A server that accepts raw TCP itself (no net/http) and calls a Handler:
// here Funcs, whose nil fields do nothing. OnMessage's data is borrowed for
// the call.
func ExampleServer() {
	srv := &wsfsm.Server{Handler: wsfsm.Funcs{
		Open: func(c *wsfsm.Conn) { c.WriteMessage(wsfsm.TextMessage, []byte("welcome")) },
		Message: func(c *wsfsm.Conn, op wsfsm.Opcode, data []byte) {
			c.WriteMessage(op, []byte(strings.ToUpper(string(data))))
		},
		Close: func(c *wsfsm.Conn, err error) { fmt.Println("server:", err) },
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // or srv.ListenAndServe(addr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	c, err := wsfsm.Dial(context.Background(), "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		log.Fatal(err)
	}
	c.WriteMessage(wsfsm.TextMessage, []byte("hello"))
	for range 2 {
		_, msg, _ := c.ReadMessage()
		fmt.Println("client:", string(msg))
	}
	c.Close(wsfsm.CloseNormal, "bye")
	srv.Shutdown(context.Background()) // waits for OnClose
	// Output:
	// client: welcome
	// client: HELLO
	// server: websocket: closed: 1000 (normal closure) "bye"
}

// Graceful shutdown: Shutdown stops accepting, sends Close 1001 to every
// connection and waits for their handlers (or for its context).
func ExampleServer_shutdown() {
	srv := &wsfsm.Server{Handler: wsfsm.Funcs{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c, err := wsfsm.Dial(context.Background(), "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsfsm.CloseNormal, "")

	// On SIGTERM, say (signal.NotifyContext):
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go srv.Shutdown(ctx)

	_, _, err = c.ReadMessage()
	var ce *wsfsm.CloseError
	if errors.As(err, &ce) {
		fmt.Println("client:", ce.Code, ce.Reason)
	}
	fmt.Println("Serve:", <-served)
	// Output:
	// client: 1001 (going away) server shutting down
	// Serve: server: closed
}

// A client: dial, send, read the echo, close.
func ExampleDial() {
	url, stop := startEcho() // "ws://127.0.0.1:…/", an echo server like ExampleUpgrade's
	defer stop()

	ctx := context.Background()
	c, err := wsfsm.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err) // a *wsfsm.HandshakeError when the server refused
	}
	if err := c.WriteMessage(wsfsm.TextMessage, []byte("ping 1")); err != nil {
		log.Fatal(err)
	}
	op, msg, err := c.ReadMessage() // msg is the caller's to keep
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(op, string(msg))
	fmt.Println(c.Close(wsfsm.CloseNormal, "done"))
	// Output:
	// text ping 1
	// <nil>
}

// Streaming: NextWriter sends a message in fragments as it is produced
// (each Write is one frame, Close sends the last), and NextReader reads
// one as its fragments arrive, without holding it whole.
func ExampleConn_streaming() {
	url, stop := startEcho()
	defer stop()
	c, err := wsfsm.Dial(context.Background(), url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsfsm.CloseNormal, "")

	w, err := c.NextWriter(wsfsm.TextMessage)
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "line %d\n", i) // one fragment
	}
	if err := w.Close(); err != nil { // the final fragment
		log.Fatal(err)
	}

	_, r, err := c.NextReader()
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(os.Stdout, r) // to EOF at the end of the message
	// Output:
	// line 1
	// line 2
	// line 3
}

// JSON messages: WriteJSON sends a value as one text message, ReadJSON
// decodes the next message into a value.
func ExampleWriteJSON() {
	type chat struct {
		User string `json:"user"`
		Text string `json:"text"`
	}
	url, stop := startEcho()
	defer stop()
	c, err := wsfsm.Dial(context.Background(), url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsfsm.CloseNormal, "")

	if err := wsfsm.WriteJSON(c, chat{User: "ann", Text: "hi"}); err != nil {
		log.Fatal(err)
	}
	var got chat
	if err := wsfsm.ReadJSON(c, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", got)
	// Output: {User:ann Text:hi}
}

// Broadcast: every connection subscribes to a topic of a hub; a message
// published there is framed once and queued for each subscriber, whose own
// writer sends it. Three clients receive one publication.
func ExampleNewHub() {
	h, err := wsfsm.NewHub(wsfsm.HubOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsfsm.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close(wsfsm.CloseNormal, "")
		sub, err := h.NewSubscriber(c, "news")
		if err != nil {
			return
		}
		defer sub.Close()                                      // unsubscribes when the connection ends
		sub.Send(wsfsm.HubMessage{Data: []byte("subscribed")}) // to this one alone
		for {
			if _, _, err := c.ReadMessage(); err != nil { // reads until the client leaves
				return
			}
		}
	}))
	defer srv.Close()

	var clients []*wsfsm.Conn
	for range 3 {
		c, err := wsfsm.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(wsfsm.CloseNormal, "")
		c.ReadMessage() // "subscribed"
		clients = append(clients, c)
	}

	h.Publish("news", wsfsm.HubMessage{Data: []byte("extra, extra")})
	for i, c := range clients {
		_, msg, _ := c.ReadMessage()
		fmt.Printf("client %d: %s\n", i, msg)
	}
	// Output:
	// client 0: extra, extra
	// client 1: extra, extra
	// client 2: extra, extra
}

// startEcho starts an echo server on loopback for the examples; it returns
// its URL and the function that stops it.
func startEcho() (url string, stop func()) {
	srv := &wsfsm.Server{Handler: wsfsm.Funcs{
		Message: func(c *wsfsm.Conn, op wsfsm.Opcode, data []byte) { c.WriteMessage(op, data) },
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	return "ws://" + ln.Addr().String() + "/", func() { srv.Shutdown(context.Background()) }
}

// A refused handshake: Dial's error is a *HandshakeError with the server's
// status, header and the start of its body. DialOptions.Header carries the
// request's extra fields.
func ExampleHandshakeError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		if c, err := wsfsm.Upgrade(w, r, nil); err == nil {
			c.Close(wsfsm.CloseNormal, "")
		}
	}))
	defer srv.Close()

	_, err := wsfsm.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &wsfsm.DialOptions{
		Header: http.Header{"Authorization": {"Bearer bad"}},
	})
	var he *wsfsm.HandshakeError
	if errors.As(err, &he) {
		fmt.Println(he.Status, he.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(he.Body)))
	}
	// Output: 401 Bearer realm="chat" who are you?
}
