// Command wschat serves the hello-world chat demo: open
// http://127.0.0.1:8080 in two browser tabs, pick names, talk. The page is
// embedded; nothing is fetched from anywhere else. See package
// github.com/wsfsm/wsfsm/cmd/wschat/chat for the JSON protocol.
//
//	go run ./cmd/wschat [-addr 127.0.0.1:8080]
//
// On SIGINT or SIGTERM it stops accepting, sends every page a Close with
// 1001 (going away) and waits for the pages to answer, at most -grace,
// before it exits. Several chat servers sharing one room over NATS: see
// github.com/wsfsm/wsfsm/natsbroker/cmd/wschat-node.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

// config is what the flags set.
type config struct {
	ReadHeaderTimeout time.Duration // a request head must arrive within this
	IdleTimeout       time.Duration // an idle keep-alive HTTP connection is closed after this
	Grace             time.Duration // how long a stop waits for the pages' close handshakes
}

var defaults = config{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, Grace: 5 * time.Second}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	cfg := defaults
	flag.DurationVar(&cfg.ReadHeaderTimeout, "header-timeout", cfg.ReadHeaderTimeout, "time allowed to read an HTTP request head")
	flag.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "idle keep-alive HTTP connections are closed after this")
	flag.DurationVar(&cfg.Grace, "grace", cfg.Grace, "on SIGINT/SIGTERM, how long to wait for pages to close (1001)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("wschat: open http://%s", ln.Addr())
	if err := run(ctx, ln, &chat.Hub{Logf: log.Printf}, cfg, log.Printf); err != nil {
		log.Fatal(err)
	}
}

// newHTTPServer is the chat's HTTP server: a slow or idle HTTP client is
// not kept forever (upgraded connections are the hub's, with their own
// timeouts).
func newHTTPServer(h http.Handler, cfg config) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout}
}

// run serves the chat on ln until ctx is done, then stops gracefully: no
// new connections, every page gets 1001, and run returns once they have
// gone or cfg.Grace has passed.
func run(ctx context.Context, ln net.Listener, hub *chat.Hub, cfg config, logf func(string, ...any)) error {
	if err := hub.Open(); err != nil {
		ln.Close()
		return err
	}
	srv := newHTTPServer(hub.Handler(), cfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logf("wschat: shutting down; pages get close 1001")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
	defer cancel()
	// Shutdown stops the listener and idle HTTP connections; upgraded
	// connections are hijacked, so it does not wait for them: the hub does.
	herr := srv.Shutdown(sctx)
	cerr := hub.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if cerr != nil {
		logf("wschat: pages still open after %v: dropped", cfg.Grace)
	}
	if herr != nil && !errors.Is(herr, context.DeadlineExceeded) {
		return herr
	}
	return nil
}
