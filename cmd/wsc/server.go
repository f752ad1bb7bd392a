package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// listener numbers the connections it accepts (the client ids) and wraps
// them for the trace when -v is given.
type listener struct {
	net.Listener
	o    *options
	log  *logger
	next atomic.Int64
}

// idConn carries a connection's id to the handler (Conn.NetConn returns it).
type idConn interface {
	net.Conn
	id() int64
}

type plainConn struct {
	net.Conn
	n int64
}

func (c *plainConn) id() int64         { return c.n }
func (c *plainConn) CloseWrite() error { return closeWrite(c.Conn) }

type tracedConn struct {
	*traceConn
	n int64
}

func (c *tracedConn) id() int64 { return c.n }

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.next.Add(1)
	if l.o.verbose > 0 {
		l.log.printf("[%d] connection from %s", n, nc.RemoteAddr())
		return &tracedConn{newTraceConn(nc, wsframe.RoleServer, l.log, fmt.Sprintf("[%d] ", n), l.o.verbose, l.o.maxMessage), n}, nil
	}
	return &plainConn{nc, n}, nil
}

func connID(c *wsconn.Conn) int64 {
	if ic, ok := c.NetConn().(idConn); ok {
		return ic.id()
	}
	return 0
}

// serverRun is wsc -l: it prints what clients send and sends stdin to them
// all, or echoes (--echo), or runs a command per connection (--exec).
type serverRun struct {
	o   *options
	log *logger
	out *messageWriter

	mu    sync.Mutex
	conns map[*wsconn.Conn]int64
	execs map[*wsconn.Conn]*execConn
}

func runServer(ctx context.Context, o *options, log *logger, stdin io.Reader, stdout io.Writer) int {
	s := &serverRun{o: o, log: log, out: newMessageWriter(stdout, o, o.show),
		conns: map[*wsconn.Conn]int64{}, execs: map[*wsconn.Conn]*execConn{}}
	opts := server.Options{
		Protocols: o.protocols,
		Conn: wsconn.Options{MaxMessageSize: o.maxMessage, CloseTimeout: o.closeTimeout,
			PingInterval: o.ping},
		Logf: func(format string, args ...any) { log.printf(format, args...) },
	}
	if o.deflate {
		opts.Deflate = &handshake.DeflateConfig{}
	}
	switch {
	case len(o.origins) == 0: // the server's default: same origin, or none
	case contains(o.origins, "*"):
		opts.CheckOrigin = func(string, *handshake.Request) bool { return true }
	default:
		opts.CheckOrigin = handshake.OriginAllowList(o.origins...)
	}
	srv := &server.Server{Handler: s, Options: opts}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.printf("%v", err)
		return 1
	}
	mode := "printing messages, sending stdin lines to every client"
	switch {
	case o.echo:
		mode = "echoing"
	case o.exec != "":
		mode = "running " + strconv.Quote(o.exec) + " per connection"
	}
	log.printf("listening on ws://%s (%s)", ln.Addr(), mode)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(&listener{Listener: ln, o: o, log: log}) }()
	if !o.echo && o.exec == "" {
		go s.broadcastInput(stdin)
	}
	select {
	case err := <-served:
		log.printf("%v", err)
		return 1
	case <-ctx.Done():
	}
	log.printf("shutting down: Close 1001 to every client")
	sctx, cancel := context.WithTimeout(context.Background(), o.closeTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *serverRun) OnOpen(c *wsconn.Conn) {
	id := connID(c)
	s.mu.Lock()
	s.conns[c] = id
	s.mu.Unlock()
	s.log.printf("[%d] open from %s%s", id, c.RemoteAddr(), protocolNote(c))
	if s.o.exec != "" {
		e, err := startExec(s.o, c, id, s.log)
		if err != nil {
			s.log.printf("[%d] --exec: %v", id, err)
			go c.Close(wsframe.CloseInternalError, "cannot start the command")
			return
		}
		s.mu.Lock()
		s.execs[c] = e
		s.mu.Unlock()
	}
}

func (s *serverRun) OnMessage(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
	switch {
	case s.o.echo:
		c.WriteMessage(op, data)
	case s.o.exec != "":
		s.mu.Lock()
		e := s.execs[c]
		s.mu.Unlock()
		if e != nil {
			e.send(data)
		}
	default:
		s.mu.Lock()
		id, several := s.conns[c], len(s.conns) > 1
		s.mu.Unlock()
		prefix := ""
		if several {
			prefix = fmt.Sprintf("[%d] ", id)
		}
		if err := s.out.write(prefix, op, data); err != nil {
			s.log.printf("writing a message out: %v", err)
		}
	}
}

func (s *serverRun) OnClose(c *wsconn.Conn, err error) {
	s.mu.Lock()
	id := s.conns[c]
	delete(s.conns, c)
	e := s.execs[c]
	delete(s.execs, c)
	s.mu.Unlock()
	if e != nil {
		e.stop()
	}
	var ce *wsconn.CloseError
	if errors.As(err, &ce) {
		s.log.printf("[%d] closed: %s", id, describeClose(ce))
	} else {
		s.log.printf("[%d] ended: %v", id, err)
	}
}

// broadcastInput sends each message read from stdin to every open
// connection, concurrently, each write bounded by the close timeout: a
// client that does not read is closed, not waited for.
func (s *serverRun) broadcastInput(stdin io.Reader) {
	mr := newMessageReader(stdin, s.o)
	for {
		op, p, err := mr.next()
		if err != nil {
			if err != io.EOF {
				s.log.printf("stdin: %v", err)
			}
			return
		}
		s.mu.Lock()
		conns := make([]*wsconn.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		if len(conns) == 0 {
			s.log.printf("no client connected: message %d not sent", mr.n)
			continue
		}
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), s.o.closeTimeout)
				defer cancel()
				if err := c.WriteMessageContext(ctx, op, p); err != nil {
					s.log.printf("[%d] sending: %v", connID(c), err)
					c.CloseNow()
				}
			})
		}
		wg.Wait()
	}
}

// execConn is the command run for one connection (--exec): messages are
// written to its stdin, each followed by the separator; its stdout is cut
// into messages like wsc's own stdin. When its stdout ends the connection
// closes (1000, or 1011 when it exited with an error); when the connection
// ends its stdin is closed, and it is killed if still running after the
// close timeout.
type execConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	sep    byte
	log    *logger
	id     int64
	exited chan struct{}
	err    error // from Wait, once exited is closed
	stopMu sync.Once
	grace  time.Duration
}

func startExec(o *options, c *wsconn.Conn, id int64, log *logger) (*execConn, error) {
	cmd := exec.Command("/bin/sh", "-c", o.exec)
	cmd.Env = append(os.Environ(),
		"WSC_CLIENT_ID="+strconv.FormatInt(id, 10),
		"WSC_REMOTE_ADDR="+c.RemoteAddr().String(),
		"WSC_PROTOCOL="+c.Subprotocol())
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = o.closeTimeout
	setProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stdout io.ReadCloser
	if o.pty {
		master, slave, err := openPTY()
		if err != nil {
			stdin.Close()
			return nil, err
		}
		cmd.Stdout = slave
		err = cmd.Start()
		slave.Close() // the command holds it now; its end is the output's end
		if err != nil {
			master.Close()
			stdin.Close()
			return nil, err
		}
		stdout = struct {
			io.Reader
			io.Closer
		}{ptyReader{master}, master}
	} else {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
	}
	e := &execConn{cmd: cmd, stdin: stdin, sep: '\n', log: log, id: id, exited: make(chan struct{}), grace: o.closeTimeout}
	if o.nul {
		e.sep = 0
	}
	go func() {
		mr := newMessageReader(stdout, o)
		for {
			op, p, err := mr.next()
			if err != nil {
				if err != io.EOF {
					log.printf("[%d] --exec output: %v", id, err)
				}
				break
			}
			if err := c.WriteMessage(op, p); err != nil {
				break
			}
		}
		if o.pty {
			stdout.Close() // Wait closes only the pipes it made
		}
		// Its output is over: wait a moment for its exit status, then close.
		code, reason := wsframe.CloseNormal, ""
		done := make(chan struct{})
		go func() {
			e.err = cmd.Wait()
			close(e.exited)
			close(done)
		}()
		select {
		case <-done:
			if e.err != nil {
				code, reason = wsframe.CloseInternalError, truncate(o.exec+": "+e.err.Error(), wsframe.MaxCloseReason)
			}
		case <-time.After(o.closeTimeout):
		}
		c.Close(code, reason)
	}()
	return e, nil
}

func (e *execConn) send(p []byte) {
	buf := make([]byte, 0, len(p)+1)
	buf = append(append(buf, p...), e.sep)
	if _, err := e.stdin.Write(buf); err != nil {
		e.log.printf("[%d] --exec input: %v", e.id, err)
	}
}

// stop ends the command once the connection is over.
func (e *execConn) stop() {
	e.stopMu.Do(func() {
		e.stdin.Close()
		go func() {
			select {
			case <-e.exited:
			case <-time.After(e.grace):
				killProcessGroup(e.cmd)
			}
		}()
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !wsframe.ValidUTF8([]byte(s)) {
		s = s[:len(s)-1]
	}
	return s
}
