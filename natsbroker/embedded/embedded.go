// Package embedded runs a NATS server (github.com/nats-io/nats-server/v2)
// inside the process: for the multi-node chat demo, whose first node needs
// nothing installed, and for tests, which start servers and clusters on
// loopback with random ports.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// Addr is host:port for clients; port 0 picks a free one (default
	// 127.0.0.1:0).
	Addr string
	// Cluster, when set, is host:port to listen on for routes from other
	// servers of a cluster (port 0: a free one), and ClusterName its name
	// (default "wsfsm").
	Cluster     string
	ClusterName string
	// Routes are the cluster addresses (host:port) of other servers to
	// connect to.
	Routes []string
	// Name names the server (default: generated).
	Name string
}

// Start runs a server and waits until it accepts clients (up to 10 s).
func Start(o Options) (*server.Server, error) {
	host, port, err := hostPort(o.Addr, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	so := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
	}
	if o.Cluster != "" {
		ch, cp, err := hostPort(o.Cluster, "")
		if err != nil {
			return nil, err
		}
		so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: ch, Port: cp}
		if so.Cluster.Name == "" {
			so.Cluster.Name = "wsfsm"
		}
		for _, r := range o.Routes {
			so.Routes = append(so.Routes, &url.URL{Scheme: "nats-route", Host: r})
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded: NATS server not ready within 10 s")
	}
	return s, nil
}

// hostPort splits addr (def when empty); port 0 becomes the server's
// "random port".
func hostPort(addr, def string) (string, int, error) {
	if addr == "" {
		addr = def
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embedded: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded: address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return h, port, nil
}
