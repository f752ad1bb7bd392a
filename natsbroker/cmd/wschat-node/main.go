// Command wschat-node is the chat demo (cmd/wschat) as one node of several
// that share the room through NATS: a message typed on a page of one node
// appears on the pages of every node. The first node runs a NATS server
// inside the process; the others join it. Nothing to install:
//
//	go -C natsbroker run ./cmd/wschat-node
//	go -C natsbroker run ./cmd/wschat-node -addr 127.0.0.1:8081 -join nats://127.0.0.1:4222
//
// then open http://127.0.0.1:8080 and http://127.0.0.1:8081. More nodes:
// more -addr values with the same -join. On SIGINT or SIGTERM a node sends
// its pages 1001 and stops (the first node takes the NATS server with it:
// the others keep serving their pages and reconnect when it is back).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
	"github.com/wsfsm/wsfsm/natsbroker"
	"github.com/wsfsm/wsfsm/natsbroker/embedded"
)

type config struct {
	Addr              string        // the chat's HTTP address
	NATSAddr          string        // where the embedded NATS server listens (first node)
	Join              string        // NATS URL to join instead of running a server
	ReadHeaderTimeout time.Duration // HTTP request head
	IdleTimeout       time.Duration // idle keep-alive HTTP connections
	Grace             time.Duration // how long a stop waits for pages to close
}

func main() {
	cfg := config{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, Grace: 5 * time.Second}
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address of this node's chat page")
	flag.StringVar(&cfg.NATSAddr, "nats", "127.0.0.1:4222", "address of the NATS server this node runs (without -join)")
	flag.StringVar(&cfg.Join, "join", "", "NATS URL of a running node (e.g. nats://127.0.0.1:4222): join it instead of running a NATS server")
	flag.DurationVar(&cfg.ReadHeaderTimeout, "header-timeout", cfg.ReadHeaderTimeout, "time allowed to read an HTTP request head")
	flag.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "idle keep-alive HTTP connections are closed after this")
	flag.DurationVar(&cfg.Grace, "grace", cfg.Grace, "on SIGINT/SIGTERM, how long to wait for pages to close (1001)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log.Printf, nil); err != nil {
		log.Fatal(err)
	}
}

// started is what run reports once serving (for tests).
type started struct {
	ChatURL string
	NATSURL string
}

// run starts the node (and its NATS server unless cfg.Join is set), serves
// until ctx is done, then stops gracefully.
func run(ctx context.Context, cfg config, logf func(string, ...any), ready chan<- started) error {
	natsURL := cfg.Join
	var ns *server.Server
	if natsURL == "" {
		var err error
		if ns, err = embedded.Start(embedded.Options{Addr: cfg.NATSAddr}); err != nil {
			return fmt.Errorf("starting the NATS server on %s: %w", cfg.NATSAddr, err)
		}
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		logf("wschat-node: NATS server at %s; more nodes: -join %s", natsURL, natsURL)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	room := &chat.Hub{Logf: logf, Broker: natsbroker.New(natsbroker.Options{URL: natsURL, Logf: logf})}
	if err := room.Open(); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: room.Handler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logf("wschat-node: open http://%s (room shared through %s)", ln.Addr(), natsURL)
	if ready != nil {
		ready <- started{ChatURL: "http://" + ln.Addr().String(), NATSURL: natsURL}
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logf("wschat-node: shutting down; pages get close 1001")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
	defer cancel()
	srv.Shutdown(sctx)
	if err := room.Shutdown(sctx); err != nil {
		logf("wschat-node: pages still open after %v: dropped", cfg.Grace)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
