package server_test

import (
	"context"
	"crypto/tls"
	"log"
	"net/http"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// A handler that serves WebSockets over HTTP/1.1 and, when the process
// runs with GODEBUG=http2xconnect=1, over HTTP/2 (RFC 8441) on the same
// TLS listener. ServeConn blocks until the connection has ended, which an
// HTTP/2 stream needs: it lives only while its handler runs.
func ExampleUpgrade_http2() {
	echo := server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
		c.WriteMessage(op, data)
	}}
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, &server.Options{})
		if err != nil {
			return // Upgrade answered the request
		}
		log.Printf("WebSocket over HTTP/%d (%s)", r.ProtoMajor, r.Method) // HTTP/2 (CONNECT) or HTTP/1 (GET)
		server.ServeConn(c, echo)
	})
	go http.ListenAndServeTLS("127.0.0.1:8443", "cert.pem", "key.pem", nil)

	// A client opening its WebSockets as streams of one HTTP/2 connection.
	tr := &wsconn.HTTP2Transport{TLSConfig: &tls.Config{}}
	c, err := wsconn.Dial(context.Background(), "wss://127.0.0.1:8443/ws", &wsconn.DialOptions{HTTP2: tr})
	if err != nil {
		log.Print(err)
		return
	}
	defer c.Close(wsframe.CloseNormal, "")
	c.WriteMessage(wsframe.OpText, []byte("hello"))
}
