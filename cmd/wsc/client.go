package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// dial opens the connection with wsconn.Dial (HTTP proxies from the
// environment included). The connection is wrapped once it is open, after
// TLS, so that the trace shows the bytes as the WebSocket sees them and the
// caller learns when the socket is closed for good.
func dial(ctx context.Context, o *options, log *logger) (*wsconn.Conn, <-chan struct{}, error) {
	do := &wsconn.DialOptions{
		Protocols: o.protocols,
		Header:    o.headers.HTTP(),
		Options:   wsconn.Options{MaxMessageSize: o.maxMessage, CloseTimeout: o.closeTimeout},
	}
	if o.deflate {
		do.DeflateOffer = &handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny}
	}
	if len(o.origins) == 1 {
		do.Origin = o.origins[0]
	}
	wss := strings.HasPrefix(o.url, "wss://")
	if wss {
		do.TLSConfig = &tls.Config{InsecureSkipVerify: o.insecure}
		if o.cacert != "" {
			pem, err := os.ReadFile(o.cacert)
			if err != nil {
				return nil, nil, err
			}
			do.TLSConfig.RootCAs = x509.NewCertPool()
			if !do.TLSConfig.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("%s: no PEM certificate in it", o.cacert)
			}
		}
	}
	// What is under way, to say what did not finish in time: Dial calls
	// NetDial, then (wss) the TLS handshake, then WrapConn.
	phase := "connecting"
	var d net.Dialer
	do.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err == nil && wss {
			phase = "the TLS handshake"
		}
		return nc, err
	}
	var ec *endConn
	do.WrapConn = func(nc net.Conn) net.Conn {
		phase = "the opening handshake"
		ec = newEndConn(nc)
		if o.verbose > 0 {
			return newTraceConn(ec, wsframe.RoleClient, log, "", o.verbose, o.maxMessage)
		}
		return ec
	}
	ctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	c, err := wsconn.Dial(ctx, o.url, do)
	if err != nil {
		var he *wsconn.HandshakeError
		switch {
		case errors.As(err, &he):
			msg := fmt.Sprintf("handshake refused: HTTP %d %s", he.Status, he.Reason)
			if line := firstLine(he.Body); line != "" {
				msg += ": " + line
			}
			return nil, nil, errors.New(msg)
		case phase == "the TLS handshake":
			err = fmt.Errorf("TLS: %w", err)
		}
		return nil, nil, timeoutCause(ctx, err, phase, o.connectTimeout)
	}
	return c, ec.closed, nil
}

// timeoutCause names what did not finish in time when ctx's deadline
// ended it.
func timeoutCause(ctx context.Context, err error, what string, d time.Duration) error {
	// The socket's deadline may pass a moment before ctx says so.
	deadline, _ := ctx.Deadline()
	if ctx.Err() == context.DeadlineExceeded || !time.Now().Before(deadline) {
		return fmt.Errorf("%s took longer than --connect-timeout %v", what, d)
	}
	return err
}

// clientRun is a connected client: a reader that prints messages, and an
// input that sends them.
type clientRun struct {
	o       *options
	conn    *wsconn.Conn
	ended   <-chan struct{} // the connection is closed for good
	log     *logger
	out     *messageWriter
	prefix  string        // before each message printed
	readEnd chan error    // the reader's end: why the connection ended
	pingErr chan error    // a ping that got no pong
	closing chan struct{} // this end started the close
}

func newClientRun(o *options, conn *wsconn.Conn, ended <-chan struct{}, log *logger, out *messageWriter, prefix string) *clientRun {
	r := &clientRun{o: o, conn: conn, ended: ended, log: log, out: out, prefix: prefix,
		readEnd: make(chan error, 1), pingErr: make(chan error, 1), closing: make(chan struct{})}
	go r.read()
	if o.ping > 0 {
		go r.pings()
	}
	return r
}

func (r *clientRun) read() {
	for {
		op, p, err := r.conn.ReadMessage()
		if err != nil {
			r.readEnd <- err
			return
		}
		if err := r.out.write(r.prefix, op, p); err != nil {
			r.log.printf("writing a message out: %v", err)
			r.conn.CloseNow()
		}
	}
}

// pings pings at the interval; no pong within it ends the connection.
func (r *clientRun) pings() {
	t := time.NewTicker(r.o.ping)
	defer t.Stop()
	for {
		select {
		case <-r.conn.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.o.ping)
		err := r.conn.Ping(ctx, nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			r.pingErr <- fmt.Errorf("no pong within --ping %v", r.o.ping)
			r.conn.CloseNow()
			return
		}
		if err != nil {
			return
		}
	}
}

// close sends Close 1000 and waits, up to the close timeout, for the
// reader to see the peer's Close, printing what arrives before it.
// (wsconn's Close would read to the peer's Close itself, dropping messages,
// whenever the reader is between two messages.)
func (r *clientRun) close() error {
	close(r.closing)
	r.conn.CloseSend(wsframe.CloseNormal, "")
	t := time.AfterFunc(r.o.closeTimeout, func() { r.conn.CloseNow() })
	defer t.Stop()
	return <-r.readEnd
}

// status reports how the connection ended and returns the exit status: 0
// for a Close 1000 or 1001 from the peer, 1 otherwise. loud prints a normal
// end too (interactive mode).
func (r *clientRun) status(err error, loud bool) int {
	// The Close reply (or the Close after a broken rule) goes out in the
	// background: let it, and the lingering close, finish first.
	select {
	case <-r.ended:
	case <-time.After(2*r.o.closeTimeout + time.Second):
		r.conn.CloseNow()
	}
	select {
	case perr := <-r.pingErr:
		r.log.printf("%v", perr)
		return 1
	default:
	}
	var ce *wsconn.CloseError
	var fe *wsframe.Error
	switch {
	case errors.As(err, &ce) && (ce.Code == wsframe.CloseNormal || ce.Code == wsframe.CloseGoingAway):
		if loud || r.o.verbose > 0 {
			r.log.printf("closed: %s", describeClose(ce))
		}
		return 0
	case errors.As(err, &ce) && ce.Code == wsframe.CloseAbnormal:
		select {
		case <-r.closing:
			r.log.printf("no Close from the peer within --close-timeout %v (1006)", r.o.closeTimeout)
		default:
			r.log.printf("the connection ended without a Close frame (1006)")
		}
	case errors.As(err, &ce):
		r.log.printf("closed by the peer: %s", describeClose(ce))
	case errors.As(err, &fe):
		r.log.printf("the peer broke a rule: %s; sent Close %d", describeRule(fe), fe.Code())
	default:
		r.log.printf("connection failed: %v", err)
	}
	return 1
}

func describeClose(ce *wsconn.CloseError) string {
	if ce.Reason == "" {
		return ce.Code.String()
	}
	return fmt.Sprintf("%s %q", ce.Code, ce.Reason)
}

// runPipe is the client when stdin is not a terminal: each message read
// from stdin is sent; at its end, Close 1000; then what still arrives is
// printed until the close handshake ends.
func runPipe(ctx context.Context, o *options, conn *wsconn.Conn, ended <-chan struct{}, log *logger, stdin io.Reader, stdout io.Writer) int {
	r := newClientRun(o, conn, ended, log, newMessageWriter(stdout, o, o.show), "")
	inputEnd := make(chan error, 1)
	go func() {
		mr := newMessageReader(stdin, o)
		for {
			op, p, err := mr.next()
			if err != nil {
				if err != io.EOF {
					err = fmt.Errorf("stdin: %w", err)
				}
				inputEnd <- err
				return
			}
			if err := conn.WriteMessage(op, p); err != nil {
				inputEnd <- fmt.Errorf("sending: %w", err)
				return
			}
		}
	}()
	select {
	case err := <-r.readEnd:
		return r.status(err, false)
	case <-ctx.Done():
		return r.status(r.close(), false)
	case ierr := <-inputEnd:
		code := r.status(r.close(), false)
		if ierr != io.EOF && !errors.Is(ierr, wsconn.ErrClosed) {
			log.printf("%v", ierr)
			code = 1
		}
		return code
	}
}
