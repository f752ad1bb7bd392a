package wsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// Options configure a Conn.
type Options struct {
	// MaxMessageSize and MaxFragments: see Config.
	MaxMessageSize int64
	MaxFragments   int
	// ReadBufferSize is the size of the read buffer used while data flows
	// (default 4 KiB; buffers of the default size are pooled between
	// connections, and a quiet connection holds none).
	ReadBufferSize int
	// CloseTimeout bounds the close handshake (default 5 s).
	CloseTimeout time.Duration
}

// Default options.
const (
	DefaultReadBufferSize = 4 << 10
	DefaultCloseTimeout   = 5 * time.Second
)

// CloseError is returned by reads once the connection is closed: the code
// and reason of the peer's Close (CloseNoStatus for an empty one), or
// CloseAbnormal when the connection ended without a Close frame.
type CloseError struct {
	Code   wsframe.CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "websocket: closed: " + e.Code.String()
	}
	return fmt.Sprintf("websocket: closed: %s %q", e.Code, e.Reason)
}

// Conn is a WebSocket connection over a net.Conn. Reads are for one
// goroutine at a time; writes are safe from several: frames never
// interleave, and a control frame may go out between the fragments of a
// message being streamed. Use NewConn after a handshake, or Dial.
type Conn struct {
	nc       net.Conn
	opts     Options
	protocol string

	readMu sync.Mutex // held by whoever reads: a reader, or Close
	mu     sync.Mutex // guards s (read side and write side share close state)
	s      *Session
	// Input goes to rbuf, which is small (embedded, 512 bytes) while the
	// connection is quiet and a pooled ReadBufferSize buffer while data
	// flows: an idle connection holds no read buffer of its own. The
	// session consumes every byte it is given, so rbuf is always drained
	// when the next read is due and can be swapped then.
	rbuf  []byte
	r, w  int // unread input: rbuf[r:w]
	small [smallRead]byte
	big   *[]byte // from bufPool, while data flows
	full  bool    // the last read filled its buffer: more is likely waiting

	wmu     sync.Mutex    // one frame at a time on the wire
	msgLock chan struct{} // held by a data message being written (fragments)
	wbuf    []byte
	bufArr  [2][]byte   // header and payload of a frame sent with one writev
	bufs    net.Buffers // over bufArr

	msg        []byte // message assembly for ReadMessage and Run
	assembling bool   // ReadMessage is assembling msg: large payloads may be read into it directly
	readErr    error  // sticky read error
	pongs      chan []byte
	closed     atomic.Bool
	done       chan struct{} // closed when the peer's Close has been read or the read side failed
	doneOne    sync.Once
	lastIn     atomic.Int64 // unix nanos of the last input
}

// NewConn wraps nc, on which the opening handshake is complete. buffered
// holds bytes already read past the handshake (the start of the frames).
func NewConn(nc net.Conn, role wsframe.Role, protocol string, buffered []byte, o Options) *Conn {
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultReadBufferSize
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	c := &Conn{
		nc: nc, opts: o, protocol: protocol,
		s:       NewSession(Config{Role: role, MaxMessageSize: o.MaxMessageSize, MaxFragments: o.MaxFragments}),
		msgLock: make(chan struct{}, 1),
		pongs:   make(chan []byte, 1),
		done:    make(chan struct{}),
	}
	c.rbuf = c.small[:]
	if len(buffered) > len(c.small) {
		c.rbuf = append([]byte(nil), buffered...)
	}
	c.w = copy(c.rbuf, buffered)
	c.lastIn.Store(time.Now().UnixNano())
	return c
}

// Subprotocol is the negotiated subprotocol, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// LocalAddr and RemoteAddr are the underlying connection's.
func (c *Conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn is the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadDeadline and SetWriteDeadline set the underlying deadlines.
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// LastActivity is when input last arrived.
func (c *Conn) LastActivity() time.Time { return time.Unix(0, c.lastIn.Load()) }

// Done is closed when the read side has ended: the peer's Close was read,
// or reading failed.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) finishReading() { c.doneOne.Do(func() { close(c.done) }) }

// nextEvent returns the next session event, reading from the network when
// the buffer is used up. It sends what the session queues (Pongs, Close
// replies) as it goes.
func (c *Conn) nextEvent() (*Event, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	for {
		if c.r < c.w {
			c.mu.Lock()
			ev, n, err := c.s.Next(c.rbuf[c.r:c.w])
			c.r += n
			pending := len(c.s.Pending()) > 0
			c.mu.Unlock()
			if pending {
				if werr := c.flushPending(); werr != nil && err == nil && ev.Kind != EventClose {
					err = werr
				}
			}
			if err != nil {
				return nil, c.failRead(err)
			}
			if ev.Kind != EventNone {
				if ev.Kind == EventClose {
					c.readErr = &CloseError{Code: ev.Code, Reason: string(ev.Reason)}
					c.afterPeerClose()
				}
				return ev, nil
			}
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if dst := c.directTarget(); dst != nil {
				// A large payload: read it where the message goes, and let
				// the session unmask and check it there.
				n, err := c.nc.Read(dst)
				if n > 0 {
					c.lastIn.Store(time.Now().UnixNano())
					c.mu.Lock()
					ev, _, err := c.s.Next(dst[:n])
					c.mu.Unlock()
					if err != nil {
						return nil, c.failRead(err)
					}
					if ev.Kind != EventNone {
						return ev, nil
					}
					continue
				}
				if err != nil {
					return nil, c.readFailed(err)
				}
				continue
			}
		}
		c.chooseBuffer()
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.full = n == len(c.rbuf)
		if n > 0 {
			c.w += n
			c.lastIn.Store(time.Now().UnixNano())
		}
		if err != nil && n == 0 {
			return nil, c.readFailed(err)
		}
	}
}

// smallRead is the size of the embedded buffer a quiet connection reads
// into: a small message fits; a larger one fills it and switches to a
// pooled buffer.
const smallRead = 512

var bufPool sync.Pool // of *[]byte of DefaultReadBufferSize

// chooseBuffer picks the buffer for the next read (rbuf is drained).
func (c *Conn) chooseBuffer() {
	if c.full {
		if c.big == nil {
			if b, ok := bufPool.Get().(*[]byte); ok && len(*b) == c.opts.ReadBufferSize {
				c.big = b
			} else {
				b := make([]byte, c.opts.ReadBufferSize)
				c.big = &b
			}
		}
		c.rbuf = *c.big
		return
	}
	c.rbuf = c.small[:]
	if c.big != nil {
		if len(*c.big) == DefaultReadBufferSize {
			bufPool.Put(c.big)
		}
		c.big = nil
	}
}

// readFailed handles an error from the network. A deadline is not the end:
// the session keeps its state and the caller may read again.
func (c *Conn) readFailed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !c.closed.Load() {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = &CloseError{Code: wsframe.CloseAbnormal}
	}
	return c.failRead(err)
}

// directTarget returns where to read the rest of a large data frame
// straight into the message being assembled, or nil.
func (c *Conn) directTarget() []byte {
	if !c.assembling {
		return nil
	}
	c.mu.Lock()
	rem := c.s.DataRemaining()
	c.mu.Unlock()
	if rem < int64(c.opts.ReadBufferSize) {
		return nil
	}
	c.msg = slices.Grow(c.msg, int(rem))
	return c.msg[len(c.msg) : len(c.msg)+int(rem)]
}

// failRead ends the read side with err; on a protocol error the Close the
// session queued is sent and the connection closed.
func (c *Conn) failRead(err error) error {
	c.readErr = err
	var fe *wsframe.Error
	if errors.As(err, &fe) {
		c.flushPending()
		c.closeNow()
	}
	c.finishReading()
	return err
}

// afterPeerClose ends the connection after the peer's Close: a server
// closes TCP at once (RFC 6455 §7.1.1); a client waits for the server to
// close it, up to the close timeout.
func (c *Conn) afterPeerClose() {
	c.finishReading()
	if c.s.Role() == wsframe.RoleServer {
		c.closeNow()
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	var sink [64]byte
	for {
		if _, err := c.nc.Read(sink[:]); err != nil {
			break
		}
	}
	c.closeNow()
}

func (c *Conn) closeNow() {
	if c.closed.CompareAndSwap(false, true) {
		c.nc.Close()
	}
}

func (c *Conn) flushPending() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	c.mu.Unlock()
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// ReadMessage reads the next whole message. The returned slice is valid
// until the next read. Pings are answered and Pongs noted on the way.
func (c *Conn) ReadMessage() (wsframe.Opcode, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if cap(c.msg) > maxKeptMessageBuffer {
		c.msg = nil // do not keep a huge buffer for every later message
	}
	c.msg = c.msg[:0]
	defer func() { c.assembling = false }()
	for {
		ev, err := c.nextEvent()
		if err != nil {
			return 0, nil, err
		}
		switch ev.Kind {
		case EventPong:
			c.notePong(ev.Data)
		case EventData:
			if ev.Start && ev.End {
				return ev.Opcode, ev.Data, nil // whole in the buffer: no copy
			}
			c.msg = appendPiece(c.msg, ev.Data)
			c.assembling = !ev.End
			if ev.End {
				return ev.Opcode, c.msg, nil
			}
		}
	}
}

// maxKeptMessageBuffer bounds the assembly buffer a connection keeps
// between messages.
const maxKeptMessageBuffer = 4 << 20

// appendPiece appends p to msg; a piece read straight into msg's spare
// capacity (directTarget) is already in place.
func appendPiece(msg, p []byte) []byte {
	if len(p) > 0 && cap(msg) > len(msg) && &msg[:len(msg)+1][len(msg)] == &p[0] {
		return msg[:len(msg)+len(p)]
	}
	return append(msg, p...)
}

// ReadMessageContext is ReadMessage that gives up when ctx is done.
func (c *Conn) ReadMessageContext(ctx context.Context) (wsframe.Opcode, []byte, error) {
	stop := c.deadlineFrom(ctx, c.nc.SetReadDeadline)
	defer stop()
	op, p, err := c.ReadMessage()
	return op, p, contextCause(ctx, err)
}

// contextCause reports ctx's error for an I/O error that ctx caused (its
// deadline may pass a moment before ctx says so).
func contextCause(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

// deadlineFrom applies ctx's deadline and cancellation to one side of the
// connection; the returned func undoes it.
func (c *Conn) deadlineFrom(ctx context.Context, set func(time.Time) error) func() {
	if d, ok := ctx.Deadline(); ok {
		set(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired // it ran, or is running: let it finish before the reset
		}
		set(time.Time{})
	}
}

// NextReader returns the next message as a stream: an io.Reader that reads
// its fragments as they arrive, to EOF at the message's end. Read it to the
// end (or to an error) before calling NextReader or ReadMessage again.
func (c *Conn) NextReader() (wsframe.Opcode, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		ev, err := c.nextEvent()
		if err != nil {
			return 0, nil, err
		}
		switch ev.Kind {
		case EventPong:
			c.notePong(ev.Data)
		case EventData:
			return ev.Opcode, &messageReader{c: c, piece: ev.Data, end: ev.End}, nil
		}
	}
}

type messageReader struct {
	c     *Conn
	piece []byte
	end   bool
}

func (m *messageReader) Read(p []byte) (int, error) {
	m.c.readMu.Lock()
	defer m.c.readMu.Unlock()
	for len(m.piece) == 0 {
		if m.end {
			return 0, io.EOF
		}
		ev, err := m.c.nextEvent()
		if err != nil {
			return 0, err
		}
		switch ev.Kind {
		case EventPong:
			m.c.notePong(ev.Data)
		case EventData:
			m.piece, m.end = ev.Data, ev.End
		}
	}
	n := copy(p, m.piece)
	m.piece = m.piece[n:]
	return n, nil
}

// Handler receives what Run reads.
type Handler interface {
	// OnMessage is called with each whole message; data is valid during
	// the call only.
	OnMessage(c *Conn, op wsframe.Opcode, data []byte)
}

// Run reads messages and hands them to h until the connection ends, and
// returns why (a *CloseError after a close handshake). Pings are answered
// as they arrive, even while other goroutines write.
func (c *Conn) Run(h Handler) error {
	for {
		op, data, err := c.ReadMessage()
		if err != nil {
			return err
		}
		h.OnMessage(c, op, data)
	}
}

func (c *Conn) notePong(p []byte) {
	select {
	case c.pongs <- append([]byte(nil), p...):
	default:
	}
}

// writevThreshold is the payload size from which a server sends header and
// payload with one writev instead of copying the payload.
const writevThreshold = 1024

// writeFrame sends one frame; the payload goes out from the caller's buffer
// with the header in one writev where the role allows (a server; a client
// must mask, so it writes a masked copy).
func (c *Conn) writeFrame(op wsframe.Opcode, fin bool, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	pending := len(c.s.Pending()) > 0
	var err error
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	if c.s.Role() == wsframe.RoleServer && len(p) > writevThreshold {
		c.wbuf, _, _, err = c.s.AppendHeader(c.wbuf, op, fin, len(p))
		c.mu.Unlock()
		if err != nil {
			return c.writePendingOnly(pending, err)
		}
		// WriteTo consumes the net.Buffers it is called on: point it at
		// the connection's array again for every frame (nothing allocated
		// per frame), and drop the reference to p afterwards.
		c.bufArr = [2][]byte{c.wbuf, p}
		c.bufs = c.bufArr[:]
		_, err = c.bufs.WriteTo(c.nc)
		c.bufArr[1] = nil
		return err
	}
	c.wbuf, err = c.s.AppendFrame(c.wbuf, op, fin, p)
	c.mu.Unlock()
	if err != nil {
		return c.writePendingOnly(pending, err)
	}
	_, err = c.nc.Write(c.wbuf)
	if cap(c.wbuf) > maxKeptWriteBuffer {
		c.wbuf = nil // a client's masked copy of a large message: do not keep it
	}
	return err
}

// maxKeptWriteBuffer bounds the write buffer a connection keeps between
// frames: a client reuses its masked copy for messages up to 1 MiB (and
// room for the header, queued replies and append's rounding up), and
// allocates for larger ones.
const maxKeptWriteBuffer = 1<<20 + 64<<10

// writePendingOnly still sends queued replies when a frame was refused.
func (c *Conn) writePendingOnly(pending bool, err error) error {
	if pending {
		c.nc.Write(c.wbuf)
	}
	return err
}

// WriteMessage sends a whole message (OpText or OpBinary) in one frame.
func (c *Conn) WriteMessage(op wsframe.Opcode, p []byte) error {
	c.msgLock <- struct{}{}
	defer func() { <-c.msgLock }()
	return c.writeFrame(op, true, p)
}

// WriteMessageContext is WriteMessage that gives up when ctx is done.
func (c *Conn) WriteMessageContext(ctx context.Context, op wsframe.Opcode, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case c.msgLock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.msgLock }()
	stop := c.deadlineFrom(ctx, c.nc.SetWriteDeadline)
	defer stop()
	return contextCause(ctx, c.writeFrame(op, true, p))
}

// NextWriter starts a message sent in fragments: each Write sends one
// fragment, Close sends the last. Other data messages wait until Close;
// control frames may go out between fragments.
func (c *Conn) NextWriter(op wsframe.Opcode) (io.WriteCloser, error) {
	if op != wsframe.OpText && op != wsframe.OpBinary {
		return nil, ErrSequence
	}
	c.msgLock <- struct{}{}
	return &messageWriter{c: c, op: op}, nil
}

type messageWriter struct {
	c      *Conn
	op     wsframe.Opcode
	closed bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("wsconn: write to a closed message writer")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.c.writeFrame(w.op, false, p); err != nil {
		return 0, err
	}
	w.op = wsframe.OpContinuation
	return len(p), nil
}

func (w *messageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer func() { <-w.c.msgLock }()
	return w.c.writeFrame(w.op, true, nil)
}

// WritePing sends a Ping without waiting for the Pong.
func (c *Conn) WritePing(p []byte) error { return c.writeFrame(wsframe.OpPing, true, p) }

// WritePong sends an unsolicited Pong (a heartbeat the peer ignores).
func (c *Conn) WritePong(p []byte) error { return c.writeFrame(wsframe.OpPong, true, p) }

// Ping sends a Ping and waits for a Pong or for ctx. Pongs are seen by
// whoever reads (Run, ReadMessage, NextReader), so something must be
// reading the connection.
func (c *Conn) Ping(ctx context.Context, p []byte) error {
	select {
	case <-c.pongs: // forget a stale one
	default:
	}
	if err := c.WritePing(p); err != nil {
		return err
	}
	select {
	case <-c.pongs:
		return nil
	case <-c.done:
		return c.readErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close performs the close handshake: it sends a Close with code and
// reason, waits (up to the close timeout) for the peer's Close, read by a
// concurrent reader or by Close itself, then closes the connection.
func (c *Conn) Close(code wsframe.CloseCode, reason string) error {
	c.wmu.Lock()
	c.mu.Lock()
	var err error
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	c.wbuf, err = c.s.AppendClose(c.wbuf, code, reason)
	c.mu.Unlock()
	if len(c.wbuf) > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
		if _, werr := c.nc.Write(c.wbuf); werr != nil && err == nil {
			err = werr
		}
	}
	c.wmu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) {
		c.closeNow()
		return err
	}
	if c.readMu.TryLock() {
		// Nobody is reading: read to the peer's Close ourselves.
		c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
		for {
			if _, rerr := c.nextEvent(); rerr != nil {
				break
			}
		}
		c.readMu.Unlock()
	} else {
		select {
		case <-c.done:
		case <-time.After(c.opts.CloseTimeout):
		}
	}
	c.closeNow()
	return nil
}

// CloseNow closes the TCP connection without a handshake.
func (c *Conn) CloseNow() error {
	c.closeNow()
	return nil
}
