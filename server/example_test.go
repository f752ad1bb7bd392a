package server_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// A WebSocket endpoint inside a net/http server: Upgrade answers the
// handshake (or refuses it with its HTTP error) and ServeConn runs the
// server's read loop with a Handler. Options apply to every connection.
func ExampleUpgrade() {
	opts := &server.Options{Conn: wsconn.Options{
		MaxMessageSize: 64 << 10,
		PingInterval:   30 * time.Second, // keepalive, from the upgrade on
	}}
	echo := server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		c.WriteMessage(op, data) // data is borrowed for the call
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "seen=1") // goes out with the 101
		c, err := server.Upgrade(w, r, opts)
		if err != nil {
			return // Upgrade answered the request
		}
		server.ServeConn(c, echo) // returns when the connection has ended
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := wsconn.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsframe.CloseNormal, "")
	c.WriteMessage(wsframe.OpText, []byte("hello"))
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	// Output: hello
}

// The raw-TCP server reads the handshake itself, bounds it in time and
// counts connections; Shutdown sends Close 1001 to every connection and
// waits for their handlers.
func ExampleServer() {
	srv := &server.Server{
		Handler: server.Funcs{
			Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) },
			Close:   func(c *wsconn.Conn, err error) { fmt.Println("handler:", err) },
		},
		MaxConns: 10_000, // over it, new connections get 503
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // or srv.ListenAndServe(addr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)

	c, err := wsconn.Dial(context.Background(), "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsframe.CloseNormal, "")
	c.WriteMessage(wsframe.OpText, []byte("hello"))
	c.ReadMessage()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	_, _, err = c.ReadMessage() // the Close 1001, which reading answers
	fmt.Println("client:", err)
	fmt.Println("Shutdown:", <-shut)
	// Unordered output:
	// client: websocket: closed: 1001 (going away) "server shutting down"
	// handler: websocket: closed: 1001 (going away)
	// Shutdown: <nil>
}
