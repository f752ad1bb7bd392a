// Command wschat serves the hello-world chat demo: open
// http://127.0.0.1:8080 in two browser tabs, pick names, talk. The page is
// embedded; nothing is fetched from anywhere else. See package
// github.com/wsfsm/wsfsm/cmd/wschat/chat for the JSON protocol.
//
//	go run ./cmd/wschat [-addr 127.0.0.1:8080] [-tls [-cert FILE -key FILE]]
//
// With -tls it serves https and HTTP/2 (a self-signed certificate unless
// files are given), and browsers open the chat's WebSocket as a stream of
// the page's HTTP/2 connection (RFC 8441); it restarts itself with
// GODEBUG=http2xconnect=1, which Go 1.26's net/http needs for that.
//
// On SIGINT or SIGTERM it stops accepting, sends every page a Close with
// 1001 (going away) and waits for the pages to answer, at most -grace,
// before it exits. Several chat servers sharing one room over NATS: see
// github.com/wsfsm/wsfsm/natsbroker/cmd/wschat-node.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

// config is what the flags set.
type config struct {
	ReadHeaderTimeout time.Duration // a request head must arrive within this
	IdleTimeout       time.Duration // an idle keep-alive HTTP connection is closed after this
	Grace             time.Duration // how long a stop waits for the pages' close handshakes
	TLS               *tls.Config   // https (and HTTP/2) when set
}

var defaults = config{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, Grace: 5 * time.Second}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	cfg := defaults
	flag.DurationVar(&cfg.ReadHeaderTimeout, "header-timeout", cfg.ReadHeaderTimeout, "time allowed to read an HTTP request head")
	flag.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "idle keep-alive HTTP connections are closed after this")
	flag.DurationVar(&cfg.Grace, "grace", cfg.Grace, "on SIGINT/SIGTERM, how long to wait for pages to close (1001)")
	useTLS := flag.Bool("tls", false, "serve https and HTTP/2, where browsers open the WebSocket as an HTTP/2 stream (RFC 8441); a self-signed certificate for 127.0.0.1, ::1 and localhost unless -cert and -key are given")
	certFile := flag.String("cert", "", "with -tls: certificate file (PEM)")
	keyFile := flag.String("key", "", "with -tls: key file (PEM)")
	flag.Parse()
	if (*certFile != "" || *keyFile != "") && !*useTLS {
		log.Fatal("wschat: -cert and -key go with -tls")
	}
	scheme := "http"
	if *useTLS {
		// net/http's HTTP/2 server offers extended CONNECT only when the
		// process starts with GODEBUG=http2xconnect=1 (Go 1.26): start
		// again with it.
		if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
			reexecWithXConnect()
		}
		var err error
		if cfg.TLS, err = tlsConfig(*certFile, *keyFile); err != nil {
			log.Fatal(err)
		}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("wschat: open %s://%s", scheme, ln.Addr())
	if err := run(ctx, ln, &chat.Hub{Logf: log.Printf}, cfg, log.Printf); err != nil {
		log.Fatal(err)
	}
}

// newHTTPServer is the chat's HTTP server: a slow or idle HTTP client is
// not kept forever (upgraded connections are the hub's, with their own
// timeouts).
func newHTTPServer(h http.Handler, cfg config) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, TLSConfig: cfg.TLS}
}

// reexecWithXConnect runs this program again with GODEBUG extended by
// http2xconnect=1 (net/http reads it once, at start), passes it the
// signals this process gets, and exits with its status.
func reexecWithXConnect() {
	exe, err := os.Executable()
	if err != nil {
		log.Fatalf("wschat: -tls needs GODEBUG=http2xconnect=1 and cannot restart itself: %v", err)
	}
	godebug := "http2xconnect=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	child := exec.Command(exe, os.Args[1:]...)
	child.Env = append(os.Environ(), "GODEBUG="+godebug)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if err := child.Start(); err != nil {
		log.Fatalf("wschat: restarting with GODEBUG=%s: %v", godebug, err)
	}
	go func() {
		for s := range sig {
			child.Process.Signal(s)
		}
	}()
	err = child.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		log.Fatal(err)
	}
	os.Exit(0)
}

// tlsConfig loads the certificate, or makes a self-signed one for the
// loopback names when no file is given.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}
	cert, err := selfSigned(time.Now())
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, valid
// for a week from now.
func selfSigned(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "wschat (self-signed)"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
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
	go func() {
		if cfg.TLS != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
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
	// At the same time: http.Server.Shutdown waits for the HTTP/2 streams
	// that carry WebSockets, which end when the hub closes them.
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Shutdown(sctx) }()
	herr := srv.Shutdown(sctx)
	cerr := <-hubDone
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
