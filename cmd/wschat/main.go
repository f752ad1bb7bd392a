// Command wschat serves the hello-world chat demo: open
// http://127.0.0.1:8080 in two browser tabs, pick names, talk. The page is
// embedded; nothing is fetched from anywhere else. See package
// github.com/wsfsm/wsfsm/cmd/wschat/chat for the JSON protocol.
//
//	go run ./cmd/wschat [-addr 127.0.0.1:8080]
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	hub := &chat.Hub{Logf: log.Printf}
	srv := &http.Server{Addr: *addr, Handler: hub.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		log.Print("wschat: shutting down; pages get close 1001")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) // stops accepting; upgraded connections are the hub's
		hub.Shutdown(ctx)
		close(stopped)
	}()
	log.Printf("wschat: open http://%s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}
