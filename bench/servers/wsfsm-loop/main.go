// Echo server on wsfsm's event-loop runtime: the raw-TCP server with
// EventLoop set (epoll, handlers on the worker pool), the same handler as
// ./wsfsm.
package main

import (
	"flag"
	"log"

	"github.com/wsfsm/wsfsm/bench/internal/heapstat"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	heapstat.Serve()
	s := &server.Server{
		Handler: server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) { c.WriteMessage(op, data) }},
		Options: server.Options{
			Conn:        wsconn.Options{MaxMessageSize: 16 << 20},
			CheckOrigin: func(string, *handshake.Request) bool { return true },
			Logf:        func(string, ...any) {},
		},
		EventLoop: &server.LoopOptions{},
	}
	log.Fatal(s.ListenAndServe(*addr))
}
