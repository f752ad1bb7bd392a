// Command wsecho is a WebSocket echo server: every message comes back with
// the same opcode and payload. It follows every rule of RFC 6455 that
// wsfsm enforces, so it is the target for conformance tools.
//
//	go run ./cmd/wsecho -addr 127.0.0.1:9001 -limit 16777216
//
// With -deflate it accepts permessage-deflate offers (RFC 7692): messages
// that arrive compressed are inflated (the limit applies to the inflated
// size) and echoes of 32 bytes or more go back compressed.
//
// On SIGINT or SIGTERM it stops accepting, sends Close 1001 to every
// client and waits for their close handshakes (at most -grace) before it
// exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on (port 0: any free port, printed at start)")
	limit := flag.Int64("limit", wsfsm.DefaultMaxMessageSize, "largest message accepted, in bytes (larger: close 1009)")
	ping := flag.Duration("ping", 0, "ping connections silent for this long; drop those that do not answer within as long (0: never)")
	idle := flag.Duration("idle", 0, "close (1001) connections from which nothing arrived for this long (0: never)")
	writeTimeout := flag.Duration("write-timeout", wsfsm.DefaultWriteTimeout, "drop a connection whose frame cannot be written within this long")
	maxConns := flag.Int("max-conns", 0, "refuse connections over this many with 503 (0: no bound)")
	grace := flag.Duration("grace", 5*time.Second, "on SIGINT/SIGTERM, how long to wait for clients to finish their close handshakes")
	deflate := flag.Bool("deflate", false, "accept permessage-deflate (RFC 7692) offers, with context takeover both ways, and compress echoes")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wsecho: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	srv := &wsfsm.Server{
		Handler: wsfsm.Funcs{Message: func(c *wsfsm.Conn, op wsfsm.Opcode, data []byte) {
			c.WriteMessage(op, data)
		}},
		Options: wsfsm.ServerOptions{
			Conn: wsfsm.ConnOptions{MaxMessageSize: *limit, WriteTimeout: *writeTimeout,
				PingInterval: *ping, IdleTimeout: *idle},
			// Conformance clients (and browsers on other origins) are allowed.
			CheckOrigin: func(string, *wsfsm.Request) bool { return true },
		},
		MaxConns: *maxConns,
	}
	if *deflate {
		srv.Options.Deflate = &wsfsm.DeflateConfig{}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		s := <-sig
		log.Printf("wsecho: %v: closing every connection with 1001", s)
		ctx, cancel := context.WithTimeout(context.Background(), *grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("wsecho: shutdown: %v; the rest were dropped", err)
		}
	}()
	log.Printf("wsecho: listening on ws://%s", ln.Addr())
	if err := srv.Serve(ln); err != wsfsm.ErrServerClosed {
		log.Fatal(err)
	}
	<-stopped // Serve returns as soon as Shutdown starts; wait for it to end
}
