package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// handshakeRefused is a response other than 101: its status and the first
// line of its body say why.
type handshakeRefused struct {
	status int
	reason string
	body   string
}

func (e *handshakeRefused) Error() string {
	s := fmt.Sprintf("handshake refused: HTTP %d %s", e.status, e.reason)
	if e.body != "" {
		s += ": " + e.body
	}
	return s
}

// dial opens the connection. It drives the handshake package itself rather
// than wsconn.Dial, which neither lets the connection be wrapped for the
// trace nor keeps the body of a refusal; the checks are the same ones
// (handshake.NewClientRequest, the generated response reader,
// ClientRequest.Check) and the connection is wsconn's.
func dial(ctx context.Context, o *options, log *logger) (*wsconn.Conn, <-chan struct{}, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, nil, err
	}
	co := handshake.ClientOptions{Protocols: o.protocols, Header: o.headers}
	if o.deflate {
		co.Deflate = &handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny}
	}
	if len(o.origins) == 1 {
		co.Origin = o.origins[0]
	}
	req, err := handshake.NewClientRequest(u, co)
	if err != nil {
		return nil, nil, err
	}
	var tlsConfig *tls.Config
	if u.Scheme == "wss" {
		tlsConfig = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: o.insecure}
		if o.cacert != "" {
			pem, err := os.ReadFile(o.cacert)
			if err != nil {
				return nil, nil, err
			}
			tlsConfig.RootCAs = x509.NewCertPool()
			if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("%s: no PEM certificate in it", o.cacert)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, timeoutCause(ctx, err, "connecting", o.connectTimeout)
	}
	if tlsConfig != nil {
		tc := tls.Client(nc, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, timeoutCause(ctx, fmt.Errorf("TLS: %w", err), "the TLS handshake", o.connectTimeout)
		}
		nc = tc
	}
	ec := newEndConn(nc)
	nc = ec
	if o.verbose > 0 {
		nc = newTraceConn(nc, wsframe.RoleClient, log, "", o.verbose, o.maxMessage)
	}
	c, err := clientHandshake(ctx, nc, req, o)
	if err != nil {
		nc.Close()
		return nil, nil, timeoutCause(ctx, err, "the opening handshake", o.connectTimeout)
	}
	return c, ec.closed, nil
}

func clientHandshake(ctx context.Context, nc net.Conn, req *handshake.ClientRequest, o *options) (*wsconn.Conn, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	if _, err := nc.Write(req.Head); err != nil {
		return nil, err
	}
	r := handshake.NewResponseReader(handshake.Limits{})
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			rest, done, ferr := r.Feed(buf[:n])
			if ferr != nil {
				return nil, ferr
			}
			if done {
				resp := r.Response()
				if resp.Status != 101 {
					return nil, &handshakeRefused{status: resp.Status, reason: resp.Reason, body: readBodyLine(nc, resp, rest)}
				}
				res, err := req.Check(resp)
				if err != nil {
					return nil, err
				}
				if !stop() {
					return nil, ctx.Err()
				}
				nc.SetDeadline(time.Time{})
				return wsconn.NewConn(nc, wsframe.RoleClient, res.Protocol, rest,
					wsconn.Options{MaxMessageSize: o.maxMessage, CloseTimeout: o.closeTimeout, Deflate: res.Deflate}), nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the server closed the connection before answering the handshake")
			}
			return nil, err
		}
	}
}

// readBodyLine reads the first line of a refusal's body (what servers put
// there is usually the reason), within a second and 1 KiB.
func readBodyLine(nc net.Conn, resp *handshake.Response, body []byte) string {
	chunked := resp.Header.HasToken("Transfer-Encoding", "chunked")
	nc.SetReadDeadline(time.Now().Add(time.Second))
	body = bytes.Clone(body)
	buf := make([]byte, 1024)
	for len(body) < 1024 {
		lines := bytes.Count(body, []byte("\n"))
		if lines >= 1 && !chunked || lines >= 2 {
			break
		}
		n, err := nc.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	if chunked { // the first line is the chunk's size
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			body = body[i+1:]
		}
	}
	return firstLine(body)
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
