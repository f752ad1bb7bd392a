// Echo server on wsfsm inside net/http, as cmd/wschat does it: a handler
// calls server.Upgrade, then server.ServeConn runs the connection in the
// handler's goroutine.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	opts := &server.Options{
		Conn:        wsconn.Options{MaxMessageSize: 16 << 20},
		CheckOrigin: func(string, *handshake.Request) bool { return true },
		Logf:        func(string, ...any) {},
	}
	h := server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }}
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		server.ServeConn(c, h)
	})))
}
