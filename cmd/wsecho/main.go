// Command wsecho is a WebSocket echo server: every message comes back with
// the same opcode and payload. It follows every rule of RFC 6455 that
// wsfsm enforces, so it is the target for conformance tools.
//
//	go run ./cmd/wsecho -addr 127.0.0.1:9001 -limit 16777216
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	limit := flag.Int64("limit", wsconn.DefaultMaxMessageSize, "largest message accepted, in bytes (larger: close 1009)")
	ping := flag.Duration("ping", 0, "ping connections silent for this long (0: never)")
	flag.Parse()

	srv := &server.Server{
		Handler: server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, data)
		}},
		Options: server.Options{
			Conn:         wsconn.Options{MaxMessageSize: *limit},
			PingInterval: *ping,
			// Conformance clients (and browsers on other origins) are allowed.
			CheckOrigin: func(string, *handshake.Request) bool { return true },
		},
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("wsecho: listening on ws://%s", *addr)
	if err := srv.ListenAndServe(*addr); err != nil && err != server.ErrServerClosed {
		log.Fatal(err)
	}
}
