package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsframe"
)

// logger writes wsc's own lines (diagnostics, the trace) to stderr, or to
// the screen (above the line being typed) in interactive mode, one line at a time.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "wsc: "+format+"\n", args...)
}

func (l *logger) setOutput(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

// traceConn shows what crosses a connection (-v, -vv): it feeds a copy of
// every byte read and written to a reader of its own, per direction: the
// generated head reader for the opening handshake, then a second
// wsframe.Parser that reports each frame and the first rule broken. It
// only observes: the real connection still enforces every rule.
type traceConn struct {
	net.Conn
	in, out *traceDir
}

// newTraceConn wraps nc for an endpoint in role (the role whose frames
// this end reads). prefix starts each line ("[2] " in server mode).
func newTraceConn(nc net.Conn, role wsframe.Role, log *logger, prefix string, level int, maxMessage int64) *traceConn {
	in := &traceDir{log: log, mark: prefix + "<", frames: level >= 2}
	out := &traceDir{log: log, mark: prefix + ">", frames: level >= 2}
	// The frames this end reads are checked with its own limit (a frame
	// over it is the peer's fault, 1009); those it sends only for grammar.
	in.cfg = wsframe.Config{Role: role, MaxPayload: maxMessage}
	if role == wsframe.RoleClient {
		in.head = handshake.NewResponseReader(handshake.Limits{})
		out.head = handshake.NewRequestReader(handshake.Limits{})
		out.cfg = wsframe.Config{Role: wsframe.RoleServer, MaxPayload: math.MaxInt64}
	} else {
		in.head = handshake.NewRequestReader(handshake.Limits{})
		out.head = handshake.NewResponseReader(handshake.Limits{})
		out.cfg = wsframe.Config{Role: wsframe.RoleClient, MaxPayload: math.MaxInt64}
	}
	in.p, out.p = wsframe.NewParser(in.cfg), wsframe.NewParser(out.cfg)
	in.other, out.other = out, in
	return &traceConn{Conn: nc, in: in, out: out}
}

// CloseWrite half-closes, as wsconn's lingering close wants, when the
// connection underneath can.
func (t *traceConn) CloseWrite() error { return closeWrite(t.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// endConn tells when the connection is closed for good: wsconn ends a
// connection in the background (the Close reply, or the Close after a
// broken rule, then a lingering close), and a command must not exit before
// that is over.
type endConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func newEndConn(c net.Conn) *endConn { return &endConn{Conn: c, closed: make(chan struct{})} }

func (e *endConn) Close() error {
	err := e.Conn.Close()
	e.once.Do(func() { close(e.closed) })
	return err
}

func (e *endConn) CloseWrite() error { return closeWrite(e.Conn) }

func (t *traceConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.in.feed(p[:n])
	}
	return n, err
}

func (t *traceConn) Write(p []byte) (int, error) {
	t.out.feed(p)
	return t.Conn.Write(p)
}

// traceDir is one direction of a traced connection.
type traceDir struct {
	mu      sync.Mutex
	log     *logger
	mark    string // "<" for what arrives, ">" for what is sent
	head    *handshake.HeadReader
	headBuf []byte
	frames  bool // report frames (-vv), not only the head (-v)
	p       *wsframe.Parser
	cfg     wsframe.Config // p's, for a restart that allows RSV1
	other   *traceDir      // the other direction
	scratch []byte
	hdr     wsframe.Header
	start   int64  // stream offset of the current frame's first byte
	payload []byte // the current frame's first bytes, for the report
	done    bool   // nothing more to report
}

// preview is how many payload bytes a frame line shows at most.
const preview = 40

func (d *traceDir) feed(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	// A copy: the parser unmasks payload in place, and these bytes belong
	// to the connection.
	d.scratch = append(d.scratch[:0], b...)
	buf := d.scratch
	if d.head != nil {
		rest, complete, err := d.head.Feed(buf)
		if err != nil {
			d.log.printf("%s head: %v", d.mark, err)
			d.done = true
			return
		}
		d.headBuf = append(d.headBuf, buf[:len(buf)-len(rest)]...)
		if !complete {
			return
		}
		d.printHead()
		// Frames follow a 101 only; after a rejection comes a body.
		if r := d.head.Response(); r != nil && r.Status != 101 {
			d.done = true
			return
		} else if r != nil && deflateAgreed(r.Header) {
			// RFC 7692 §6: RSV1 marks a compressed message, both ways. The
			// other direction has sent no frame yet (they follow the 101).
			d.allowRSV1()
			d.other.mu.Lock()
			d.other.allowRSV1()
			d.other.mu.Unlock()
		}
		d.head, d.headBuf = nil, nil
		if !d.frames {
			d.done = true
			return
		}
		buf = rest
	}
	for {
		ev, n, err := d.p.Next(buf)
		if err != nil {
			d.printRule(err)
			d.done = true
			return
		}
		buf = buf[n:]
		switch ev.Kind {
		case wsframe.TokenNone:
			return
		case wsframe.TokenHeader:
			d.hdr = *ev.Header
			d.start = d.p.Offset() - int64(wsframe.HeaderSize(d.hdr))
			d.payload = d.payload[:0]
		case wsframe.TokenPayload:
			if room := wsframe.MaxControlPayload - len(d.payload); room > 0 {
				d.payload = append(d.payload, ev.Payload[:min(room, len(ev.Payload))]...)
			}
			if ev.End {
				d.printFrame()
			}
		}
	}
}

// deflateAgreed reports whether a 101's header agrees to permessage-deflate
// (the real connection checks the agreement; the trace only follows it).
func deflateAgreed(h handshake.Header) bool {
	exts, err := handshake.ParseExtensions(h.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return false
	}
	for _, e := range exts {
		if e.Name == handshake.DeflateName {
			return true
		}
	}
	return false
}

// allowRSV1 restarts the parser, which has read no frame yet, with RSV1
// allowed; d.mu is held.
func (d *traceDir) allowRSV1() {
	d.cfg.AllowedRSV = wsframe.RSV1
	d.p = wsframe.NewParser(d.cfg)
}

func (d *traceDir) printHead() {
	lines := strings.Split(strings.TrimRight(string(d.headBuf), "\r\n"), "\r\n")
	for _, l := range lines {
		d.log.printf("%s %s", d.mark, l)
	}
	d.log.printf("%s", d.mark)
}

// printFrame reports a whole frame: where it started in the stream (the
// first byte after the handshake is 0), its header fields and a preview.
func (d *traceDir) printFrame() {
	h := &d.hdr
	var b strings.Builder
	fmt.Fprintf(&b, "%s @%d fin=%d rsv=%03b op=%s ", d.mark, d.start, btoi(h.Fin), h.Rsv, h.Opcode)
	if h.Masked {
		fmt.Fprintf(&b, "masked=%x", h.Mask)
	} else {
		b.WriteString("unmasked")
	}
	fmt.Fprintf(&b, " len=%d", h.Length)
	p := d.payload
	switch {
	case h.Opcode == wsframe.OpClose:
		code, reason, err := wsframe.ParseClose(p)
		if err != nil {
			fmt.Fprintf(&b, " (%v)", err)
			break
		}
		fmt.Fprintf(&b, " code=%s", code)
		if len(reason) > 0 {
			fmt.Fprintf(&b, " reason=%q", reason)
		}
	case len(p) == 0:
	case h.Opcode == wsframe.OpBinary:
		fmt.Fprintf(&b, " %x", p[:min(len(p), preview/2)])
		if h.Length > preview/2 {
			b.WriteString("…")
		}
	default:
		fmt.Fprintf(&b, " %q", p[:min(len(p), preview)])
		if h.Length > preview {
			b.WriteString("…")
		}
	}
	d.log.printf("%s", b.String())
}

// printRule reports the first rule the stream broke: its name, the byte
// that proved it, the RFC text and the close code it calls for.
func (d *traceDir) printRule(err error) {
	var fe *wsframe.Error
	if !errors.As(err, &fe) {
		d.log.printf("%s %v", d.mark, err)
		return
	}
	d.log.printf("%s rule %s; close code %d", d.mark, describeRule(fe), fe.Code())
}

// describeRule names a broken rule, the byte that proved it and where the
// RFC says so: "ErrMaskedFrame at byte 1: frame from the server is masked
// (RFC 6455 §5.1)".
func describeRule(fe *wsframe.Error) string {
	return fmt.Sprintf("%s at byte %d: %s (%s)", fe.Rule.String(), fe.Offset,
		strings.TrimPrefix(fe.Rule.Error(), "websocket: "), fe.Rule.Cite())
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// firstLine is the first line of s, without its line ending, at most 200
// bytes.
func firstLine(s []byte) string {
	if i := bytes.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = bytes.TrimRight(s, "\r")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(string(s), "?")
}
