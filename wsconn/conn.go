package wsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Options configure a Conn.
type Options struct {
	// MaxMessageSize and MaxFragments: see SessionConfig.
	MaxMessageSize int64
	MaxFragments   int
	// ReadBufferSize is the size of the read buffer used while data flows
	// (default 4 KiB; buffers of the default size are pooled between
	// connections, and a quiet connection holds none). No slice handed to
	// the application ever points into it.
	ReadBufferSize int
	// CloseTimeout bounds the close handshake: sending the Close (waiting
	// for a writer that holds the connection included), waiting for the
	// peer's, and the lingering close after it (default 5 s).
	CloseTimeout time.Duration
	// WriteTimeout bounds the writing of every frame: messages, fragments,
	// pings, pongs and Close frames (default 10 s; negative: no bound). A
	// write that runs out of time has sent part of a frame, so it breaks
	// the connection: the connection is closed and every later write
	// returns the error.
	WriteTimeout time.Duration
	// Deflate is the permessage-deflate agreement (RFC 7692) of the
	// handshake, nil without the extension. server.Options.Deflate and
	// DialOptions.Deflate negotiate it and set it; set it by hand only
	// with a handshake of your own.
	Deflate *handshake.DeflateParams
	// CompressThreshold: WriteMessage sends shorter messages uncompressed.
	// See SessionConfig.CompressThreshold.
	CompressThreshold int

	// PingInterval pings the peer when nothing has arrived from it for
	// this long; a peer that then sends nothing within PingTimeout
	// (default: PingInterval) is dropped, and reads fail with an error
	// wrapping ErrPingTimeout. 0 (the default): no keepalive. Any input
	// counts, and input is what a reader takes in: something must read the
	// connection (Run, ReadMessage, the server's loop).
	PingInterval, PingTimeout time.Duration
	// IdleTimeout closes the connection (1001 "idle timeout") when nothing
	// has arrived for this long; 0 (the default): never.
	IdleTimeout time.Duration

	// OnPing, OnPong and OnClose, when set, are called by the reader as a
	// Ping, a Pong or the peer's Close arrives, with its payload or reason
	// (borrowed for the call). They observe: the Pong that a Ping calls
	// for and the reply to a Close are sent as without them. They run on
	// the reading goroutine, so they must not block or read c; writing
	// from them is allowed.
	OnPing, OnPong func(c *Conn, payload []byte)
	OnClose        func(c *Conn, code wsframe.CloseCode, reason []byte)
}

// Default options.
const (
	DefaultReadBufferSize = 4 << 10
	DefaultCloseTimeout   = 5 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
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
//
// Reading never waits for writing: the Pongs and the Close reply that the
// protocol calls for are sent by a writer, and when the write side is busy
// or blocked only the latest Pong is kept (RFC 6455 §5.5.3).
type Conn struct {
	nc       net.Conn // nil on an event loop
	opts     *Options // the connection's own (NewConn), or shared by a server's loop connections
	protocol string

	mu sync.Mutex // guards s (read side and write side share close state)
	s  *Session
	// The goroutine runtime's reading and writing state, allocated with
	// the Conn by NewConn; nil on an event loop, whose connections hold
	// no read buffer, channel or write buffer of their own (loop.go).
	*goConn
	lp *loopConn // the event loop's side; nil in the goroutine runtime

	lastIn        atomic.Int64 // unix nanos of the last input
	closed        atomic.Bool
	endingStarted atomic.Bool
	cause         atomic.Pointer[error] // why this end closed, when it had a reason
}

// goConn is what a Conn read and written by goroutines holds.
type goConn struct {
	readMu sync.Mutex // held by whoever reads: a reader, or Close
	// Input goes to rbuf, which is small (embedded, 512 bytes) while the
	// connection is quiet and a pooled ReadBufferSize buffer while data
	// flows: an idle connection holds no read buffer of its own. The
	// session consumes every byte it is given, so rbuf is always drained
	// when the next read is due and can be swapped then. Nothing handed to
	// the application points into rbuf: messages are copied out of it.
	rbuf  []byte
	r, w  int // unread input: rbuf[r:w]
	small [smallRead]byte
	big   *[]byte // from bufPool, while data flows
	full  bool    // the last read filled its buffer: more is likely waiting

	// A read call assembles its message in asm; while it does, the rest of
	// a large data frame is read straight into asm's spare capacity, which
	// grows with the bytes that arrive, never with the length a header
	// announces.
	asm        []byte
	assembling bool
	msg        []byte // Run's message buffer, reused between messages

	readErr error // sticky read error
	pongs   chan []byte
	done    chan struct{} // closed when the read side has ended
	doneOne sync.Once

	// wlock is the write lock: one frame at a time on the wire. It is a
	// channel so that waiting for it can end with a context or a timeout.
	wlock       chan struct{}
	msgLock     chan struct{} // held by a data message being written (fragments)
	wbuf        []byte
	iov         [][]byte    // the pieces of one writev (kept between writes)
	frames      [][]byte    // prepared frames to write (kept between writes)
	bufs        net.Buffers // over iov, consumed by WriteTo
	writeErr    error       // sticky: set under wlock when a write failed
	userWriteDL atomic.Int64
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
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	// One allocation for the Conn and its goroutine state.
	b := &struct {
		Conn
		goConn
		opts Options
	}{opts: o}
	c := &b.Conn
	c.nc, c.opts, c.protocol = nc, &b.opts, protocol
	c.s = NewSession(SessionConfig{Role: role, MaxMessageSize: o.MaxMessageSize, MaxFragments: o.MaxFragments,
		Deflate: o.Deflate, CompressThreshold: o.CompressThreshold})
	c.goConn = &b.goConn
	c.wlock = make(chan struct{}, 1)
	c.msgLock = make(chan struct{}, 1)
	c.pongs = make(chan []byte, 1)
	c.done = make(chan struct{})
	c.rbuf = c.small[:]
	if len(buffered) > len(c.small) {
		c.rbuf = append([]byte(nil), buffered...)
	}
	c.w = copy(c.rbuf, buffered)
	c.lastIn.Store(time.Now().UnixNano())
	c.startKeepalive()
	return c
}

// Subprotocol is the negotiated subprotocol, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// LocalAddr and RemoteAddr are the underlying connection's.
func (c *Conn) LocalAddr() net.Addr {
	if c.lp != nil {
		return c.lp.t.LocalAddr()
	}
	return c.nc.LocalAddr()
}

func (c *Conn) RemoteAddr() net.Addr {
	if c.lp != nil {
		return c.lp.t.RemoteAddr()
	}
	return c.nc.RemoteAddr()
}

// NetConn is the underlying connection (nil on the server's event loop,
// which owns the socket).
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadDeadline sets the underlying read deadline (ErrEventLoop on the
// server's event loop, which reads the connection).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.lp != nil {
		return ErrEventLoop
	}
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets a deadline for the frames written from now on; the
// write timeout still bounds each frame when it comes sooner. A deadline
// sooner than the write timeout also shortens a write in progress (a
// broadcast evicting a subscriber that stopped reading, say); the write
// that misses it breaks the connection.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.lp != nil {
		return nil // writes never wait on the event loop: its queue bound and the write timeout apply
	}
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
		if c.opts.WriteTimeout < 0 || t.Before(time.Now().Add(c.opts.WriteTimeout)) {
			c.nc.SetWriteDeadline(t)
		}
	}
	c.userWriteDL.Store(n)
	return nil
}

// SetReadLimit changes the largest message accepted (MaxMessageSize; 0 or
// less: the default) from the next frame on, for example after a client
// has authenticated. A message over it ends the connection with 1009.
func (c *Conn) SetReadLimit(n int64) {
	c.mu.Lock()
	if c.lp != nil {
		if n <= 0 {
			n = DefaultMaxMessageSize
		}
		c.lp.maxMsg = n // for the sessions to come
		if c.s == nil {
			c.mu.Unlock()
			return
		}
	}
	c.s.SetMaxMessageSize(n)
	c.mu.Unlock()
}

// LastActivity is when input last arrived.
func (c *Conn) LastActivity() time.Time {
	if c.lp != nil {
		return c.lp.t.LastActivity()
	}
	return time.Unix(0, c.lastIn.Load())
}

// Done is closed when the read side has ended: the peer's Close was read,
// reading failed, or the connection was closed.
func (c *Conn) Done() <-chan struct{} {
	if c.lp != nil {
		return c.loopDone()
	}
	return c.done
}

func (c *Conn) finishReading() { c.doneOne.Do(func() { close(c.done) }) }

// nextEvent returns the next session event, reading from the network when
// the buffer is used up. It never writes: replies the session queues go out
// through sendReplies.
func (c *Conn) nextEvent() (*Event, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	for {
		if c.r < c.w {
			c.mu.Lock()
			ev, n, err := c.s.Next(c.rbuf[c.r:c.w])
			c.r += n
			c.mu.Unlock()
			if err != nil {
				return nil, c.failRead(err)
			}
			switch ev.Kind {
			case EventNone:
			case EventClose:
				c.readErr = &CloseError{Code: ev.Code, Reason: string(ev.Reason)}
				if c.opts.OnClose != nil {
					c.opts.OnClose(c, ev.Code, ev.Reason)
				}
				c.finishReading()
				c.endConnection()
				return ev, nil
			case EventPing:
				c.sendReplies()
				if c.opts.OnPing != nil {
					c.opts.OnPing(c, ev.Data)
				}
				return ev, nil
			case EventPong:
				c.notePong(ev.Data)
				if c.opts.OnPong != nil {
					c.opts.OnPong(c, ev.Data)
				}
				return ev, nil
			default:
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
	if cause := c.cause.Load(); cause != nil {
		err = *cause
	} else if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.closed.Load() {
		err = &CloseError{Code: wsframe.CloseAbnormal}
	}
	c.readErr = err
	c.mu.Lock()
	c.s.Release() // a compressed message cut short holds an inflater
	c.mu.Unlock()
	c.finishReading()
	c.closeNow()
	return err
}

// directTarget returns where to read the rest of a large data frame
// straight into the message being assembled, or nil. The message buffer
// grows by doubling as bytes arrive, up to what the frame has left: a
// header announcing 16 MiB followed by one byte costs one read buffer, not
// 16 MiB.
func (c *Conn) directTarget() []byte {
	if !c.assembling {
		return nil
	}
	c.mu.Lock()
	rem := c.s.DataRemaining()
	last := rem > 0 && c.s.hdr.Fin
	c.mu.Unlock()
	step := c.opts.ReadBufferSize
	if rem < int64(step) {
		return nil
	}
	if cap(c.asm)-len(c.asm) < step {
		size := ceilPow2(max(2*cap(c.asm), len(c.asm)+step))
		if last {
			// The message ends with this frame: a doubling past its end
			// would reserve up to twice what it needs.
			size = int(min(int64(size), int64(len(c.asm))+rem))
		}
		c.asm = withCap(c.asm, size)
	}
	n := min(int64(cap(c.asm)-len(c.asm)), rem)
	return c.asm[len(c.asm) : len(c.asm)+int(n)]
}

// grow returns b with room for n more bytes, at least doubling its
// capacity to a power of two, so that assembling a message from any number
// of pieces allocates O(log size) times, and a message of 2^k bytes fills
// its last buffer exactly.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	return withCap(b, ceilPow2(max(2*cap(b), len(b)+n)))
}

// ceilPow2 is the least power of two ≥ n (n > 0).
func ceilPow2(n int) int { return 1 << bits.Len(uint(n-1)) }

// withCap returns b's bytes in a buffer of capacity size.
func withCap(b []byte, size int) []byte {
	nb := make([]byte, len(b), size)
	copy(nb, b)
	return nb
}

// appendPiece appends a message piece to asm; a piece read straight into
// asm's spare capacity (directTarget) is already in place.
func (c *Conn) appendPiece(p []byte, end bool) {
	a := c.asm
	switch {
	case len(p) > 0 && cap(a) > len(a) && &a[:len(a)+1][len(a)] == &p[0]:
		c.asm = a[:len(a)+len(p)]
	case end && cap(a)-len(a) < len(p):
		c.asm = append(withCap(a, len(a)+len(p)), p...) // the last piece: no more room than it needs
	default:
		c.asm = append(grow(a, len(p)), p...)
	}
}

// failRead ends the read side with a protocol error: the Close the session
// queued is sent and the connection closed.
func (c *Conn) failRead(err error) error {
	c.readErr = err
	c.finishReading()
	c.endConnection()
	return err
}

// endConnection ends the connection in the background once the read side
// is over (the peer's Close was read, or the peer broke a rule), so that
// the read call reports it at once: the queued Close goes out (bounded by
// the close timeout), then the TCP connection is closed with a linger.
func (c *Conn) endConnection() {
	if !c.endingStarted.CompareAndSwap(false, true) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
		defer cancel()
		if c.lockWrite(ctx) != nil {
			c.closeNow() // a writer is stuck: nothing more can be sent
			return
		}
		c.sendPendingLocked(time.Now().Add(c.opts.CloseTimeout))
		c.unlockWrite()
		c.linger()
	}()
}

// lingerMaxBytes bounds what a lingering close reads and discards.
const lingerMaxBytes = 4 << 20

// linger closes the TCP connection without destroying data in flight to
// the peer: closing a socket with unread input makes the kernel send a
// reset, which discards what the peer had not read yet. The server (RFC
// 6455 §7.1.1: it closes first) half-closes; both ends then read and
// discard until the peer closes, bounded by the close timeout and
// lingerMaxBytes, and close.
func (c *Conn) linger() {
	if c.closed.Load() {
		return
	}
	if c.s.Role() == wsframe.RoleServer || c.s.Err() != nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	t := time.AfterFunc(c.opts.CloseTimeout, c.closeNow)
	defer t.Stop()
	var sink [512]byte
	for read := 0; read < lingerMaxBytes; {
		n, err := c.nc.Read(sink[:])
		read += n
		if err != nil {
			break
		}
	}
	c.closeNow()
}

// fail closes the connection without a handshake for a reason of this
// end's (a keepalive ping left unanswered): reads return err.
func (c *Conn) fail(err error) {
	c.cause.CompareAndSwap(nil, &err)
	c.closeNow()
}

func (c *Conn) closeNow() {
	if c.closed.CompareAndSwap(false, true) {
		c.nc.Close()
		c.finishReading()
	}
}

// ReadMessage reads the next whole message into memory that belongs to the
// caller: nothing in this package writes it again. Pings are answered and
// Pongs noted on the way. To reuse a buffer, use AppendMessage.
func (c *Conn) ReadMessage() (wsframe.Opcode, []byte, error) {
	return c.AppendMessage(nil)
}

// AppendMessage reads the next whole message and appends it to dst, which
// it returns (grown if needed): a caller that passes the same buffer again
// (buf[:0]) reads without allocating.
func (c *Conn) AppendMessage(dst []byte) (wsframe.Opcode, []byte, error) {
	if c.lp != nil {
		return 0, dst, ErrEventLoop
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.readMessage(dst)
}

func (c *Conn) readMessage(dst []byte) (wsframe.Opcode, []byte, error) {
	c.asm, c.assembling = dst, true
	defer func() { c.asm, c.assembling = nil, false }()
	for {
		ev, err := c.nextEvent()
		if err != nil {
			return 0, dst, err
		}
		switch ev.Kind {
		case EventData:
			c.appendPiece(ev.Data, ev.End)
			if ev.End {
				return ev.Opcode, c.asm, nil
			}
		}
	}
}

// maxKeptMessageBuffer bounds the message buffer Run keeps between
// messages: messages up to 64 KiB cost no allocation; after a larger one an
// idle connection does not keep its buffer (bench/deflate measured 512 KiB
// per idle connection after one 256 KiB message with a 1 MiB bound).
const maxKeptMessageBuffer = 64 << 10

// ReadMessageContext is ReadMessage that gives up when ctx is done.
func (c *Conn) ReadMessageContext(ctx context.Context) (wsframe.Opcode, []byte, error) {
	if c.lp != nil {
		return 0, nil, ErrEventLoop
	}
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
// its fragments as they arrive, to EOF at the message's end, copying them
// into the caller's buffers. Read it to the end (or to an error) before
// calling NextReader or ReadMessage again.
func (c *Conn) NextReader() (wsframe.Opcode, io.Reader, error) {
	if c.lp != nil {
		return 0, nil, ErrEventLoop
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		ev, err := c.nextEvent()
		if err != nil {
			return 0, nil, err
		}
		switch ev.Kind {
		case EventData:
			return ev.Opcode, &messageReader{c: c, piece: ev.Data, end: ev.End}, nil
		}
	}
}

type messageReader struct {
	c     *Conn
	piece []byte // aliases the read buffer; only ever copied out
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
		case EventData:
			m.piece, m.end = ev.Data, ev.End
		}
	}
	n := copy(p, m.piece)
	m.piece = m.piece[n:]
	return n, nil
}

// Run reads messages and hands each whole one to f until the connection
// ends, and returns why (a *CloseError after a close handshake). Pings are
// answered as they arrive, even while other goroutines write.
//
// data is borrowed: it is valid during the call only. Run reuses one
// message buffer, the connection's own (never shared with another
// connection), so a message costs no allocation; copy what you keep.
func (c *Conn) Run(f func(op wsframe.Opcode, data []byte)) error {
	if c.lp != nil {
		return ErrEventLoop
	}
	for {
		c.readMu.Lock()
		op, data, err := c.readMessage(c.msg[:0])
		c.readMu.Unlock()
		if err != nil {
			c.msg = nil
			return err
		}
		c.msg = data
		f(op, data)
		if cap(c.msg) > maxKeptMessageBuffer {
			c.msg = nil // do not keep a huge buffer for every later message
		}
	}
}

func (c *Conn) notePong(p []byte) {
	select {
	case c.pongs <- append([]byte(nil), p...):
	default:
	}
}

// lockWrite takes the write lock, or gives up when ctx is done (nil: wait).
func (c *Conn) lockWrite(ctx context.Context) error {
	select {
	case c.wlock <- struct{}{}:
		return nil
	default:
	}
	if ctx == nil {
		c.wlock <- struct{}{}
		return nil
	}
	select {
	case c.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlockWrite releases the write lock. Replies the reader queued while it
// was held go out first: the reader never waits for the lock, so the
// holder sends them (or whoever holds the lock next).
func (c *Conn) unlockWrite() {
	for {
		<-c.wlock
		if !c.hasPending() {
			return
		}
		select {
		case c.wlock <- struct{}{}:
		default:
			return // the new holder sends them
		}
		c.sendPendingLocked(time.Time{})
	}
}

func (c *Conn) hasPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.s.Pending()) > 0
}

// sendReplies sends what the session queued (a Pong) without making the
// reader wait: when the write lock is free a goroutine sends it; when a
// writer holds it, the writer sends it as it unlocks. Meanwhile a newer
// Ping replaces the queued Pong.
func (c *Conn) sendReplies() {
	select {
	case c.wlock <- struct{}{}:
		go func() {
			c.sendPendingLocked(time.Time{})
			c.unlockWrite()
		}()
	default:
	}
}

// sendPendingLocked sends the session's queued replies; the write lock is
// held. deadline, if set, bounds the write further.
func (c *Conn) sendPendingLocked(deadline time.Time) error {
	c.mu.Lock()
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	c.mu.Unlock()
	if len(c.wbuf) == 0 {
		return c.writeErr
	}
	return c.writeLocked(deadline, c.wbuf)
}

// writeDeadline is when the frame about to be written must be out: the
// write timeout from now, or sooner the caller's deadline (a context's) or
// the one set by SetWriteDeadline.
func (c *Conn) writeDeadline(d time.Time) time.Time {
	if c.opts.WriteTimeout > 0 {
		if t := time.Now().Add(c.opts.WriteTimeout); d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if u := c.userWriteDL.Load(); u != 0 {
		if t := time.Unix(0, u); d.IsZero() || t.Before(d) {
			d = t
		}
	}
	return d
}

// writeLocked writes bufs (one frame, or replies) under the write lock,
// within the write deadline. A failed write leaves a frame half sent, so it
// breaks the connection.
func (c *Conn) writeLocked(deadline time.Time, bufs ...[]byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	c.nc.SetWriteDeadline(c.writeDeadline(deadline))
	var err error
	if len(bufs) == 1 {
		_, err = c.nc.Write(bufs[0])
	} else {
		// WriteTo consumes the net.Buffers it is called on: point it at the
		// connection's slice again for every write (nothing allocated per
		// frame once it has grown), and drop the references afterwards.
		c.iov = append(c.iov[:0], bufs...)
		c.bufs = c.iov
		_, err = c.bufs.WriteTo(c.nc)
		clear(c.iov)
	}
	if err != nil {
		c.writeErr = fmt.Errorf("wsconn: write: %w", err)
		c.closeNow()
		return c.writeErr
	}
	return nil
}

// writevThreshold is the payload size from which a server sends header and
// payload with one writev instead of copying the payload.
const writevThreshold = 1024

// maskChunk is how much of a client's payload is masked and written at a
// time: a large message is not copied whole.
const maskChunk = 64 << 10

// writeFrame sends one frame with the write lock held, after the replies
// the session queued. A server writes the payload from the caller's buffer
// (with the header, in one writev); a client must mask, so it writes a
// masked copy, maskChunk bytes at a time.
func (c *Conn) writeFrame(deadline time.Time, op wsframe.Opcode, fin bool, p []byte, compress bool) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if compress && fin && (op == wsframe.OpText || op == wsframe.OpBinary) && c.s.Compressing() {
		// Compressed under the write lock only: reading goes on meanwhile.
		z, ok, err := c.s.Compress(p)
		if err != nil {
			return err
		}
		if ok {
			c.mu.Lock()
			c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
			c.s.ClearPending()
			queued := len(c.wbuf)
			c.wbuf, err = c.s.AppendCompressed(c.wbuf, op, z)
			c.mu.Unlock()
			if err != nil {
				if queued > 0 {
					c.writeLocked(deadline, c.wbuf[:queued])
				}
				return err
			}
			err = c.writeLocked(deadline, c.wbuf)
			if cap(c.wbuf) > maxKeptWriteBuffer {
				c.wbuf = nil
			}
			return err
		}
	}
	c.mu.Lock()
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	queued := len(c.wbuf)
	var (
		h   wsframe.Header
		err error
	)
	direct := len(p) > writevThreshold && c.s.Role() == wsframe.RoleServer
	chunked := len(p) > maskChunk && c.s.Role() == wsframe.RoleClient
	if direct || chunked {
		c.wbuf, h, err = c.s.AppendHeader(c.wbuf, op, fin, len(p))
	} else {
		c.wbuf, err = c.s.AppendFrame(c.wbuf, op, fin, p)
	}
	c.mu.Unlock()
	if err != nil {
		if queued > 0 { // the frame was refused; the replies still go
			c.writeLocked(deadline, c.wbuf[:queued])
		}
		return err
	}
	switch {
	case direct:
		err = c.writeLocked(deadline, c.wbuf, p)
	case chunked:
		// The first chunk goes with the header; the rest reuse the buffer.
		off := 0
		for off < len(p) && err == nil {
			head := c.wbuf
			if off > 0 {
				head = c.wbuf[:0]
			}
			n := min(maskChunk, len(p)-off)
			if cap(head)-len(head) < n {
				head = append(make([]byte, 0, len(head)+n), head...)
			}
			buf := append(head, p[off:off+n]...)
			if h.Masked {
				wsframe.Mask(h.Mask, off, buf[len(head):])
			}
			c.wbuf = buf[:0]
			err = c.writeLocked(deadline, buf)
			off += n
		}
	default:
		err = c.writeLocked(deadline, c.wbuf)
	}
	if cap(c.wbuf) > maxKeptWriteBuffer {
		c.wbuf = nil
	}
	return err
}

// maxKeptWriteBuffer bounds the write buffer a connection keeps between
// frames: a client's masked copy of a message up to maskChunk, with room
// for the header and queued replies.
const maxKeptWriteBuffer = maskChunk + 16<<10

// writeMessageFrame takes the write lock (or gives up with ctx; nil: wait)
// and sends a frame. ctx's deadline bounds the write; its cancellation
// interrupts it, which breaks the connection (part of a frame went out).
func (c *Conn) writeMessageFrame(ctx context.Context, op wsframe.Opcode, fin bool, p []byte, compress bool) error {
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	defer c.unlockWrite()
	var deadline time.Time
	if ctx != nil && ctx.Done() != nil {
		deadline, _ = ctx.Deadline()
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.nc.SetWriteDeadline(time.Unix(1, 0))
			close(fired)
		})
		// Before the lock is released: the interruption is for this
		// frame, never for the next writer's.
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	return c.writeFrame(deadline, op, fin, p, compress)
}

// WriteMessage sends a whole message (OpText or OpBinary) in one frame,
// compressed when permessage-deflate is on and the message is at least
// Options.CompressThreshold long.
func (c *Conn) WriteMessage(op wsframe.Opcode, p []byte) error {
	if c.lp != nil {
		return c.loopWriteMessage(nil, op, p, true)
	}
	if err := c.lockMessage(nil); err != nil {
		return err
	}
	defer func() { <-c.msgLock }()
	return c.writeMessageFrame(nil, op, true, p, true)
}

// WriteUncompressed is WriteMessage that never compresses: for payloads
// already compressed (images, archives), where deflate would cost time and
// save nothing.
func (c *Conn) WriteUncompressed(op wsframe.Opcode, p []byte) error {
	if c.lp != nil {
		return c.loopWriteMessage(nil, op, p, false)
	}
	if err := c.lockMessage(nil); err != nil {
		return err
	}
	defer func() { <-c.msgLock }()
	return c.writeMessageFrame(nil, op, true, p, false)
}

// Compressing reports whether permessage-deflate was negotiated, so that
// WriteMessage compresses.
func (c *Conn) Compressing() bool {
	if c.lp != nil {
		return c.opts.Deflate != nil // the loop's sessions come and go; the agreement stays
	}
	return c.s.Compressing()
}

// WriteMessageContext is WriteMessage that gives up when ctx is done: while
// waiting for another writer, at no cost; while writing, by breaking and
// closing the connection, since part of the frame went out.
func (c *Conn) WriteMessageContext(ctx context.Context, op wsframe.Opcode, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.lp != nil {
		return c.loopWriteMessage(ctx, op, p, true)
	}
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer func() { <-c.msgLock }()
	return contextCause(ctx, c.writeMessageFrame(ctx, op, true, p, true))
}

// lockMessage takes the message lock (one data message at a time: a
// fragmented one holds it from NextWriter to Close). A caller that has to
// wait for it waits at most until the write deadline (the write timeout
// from now, or the SetWriteDeadline deadline if sooner), then gets
// os.ErrDeadlineExceeded, or until ctx (nil: none) is done.
func (c *Conn) lockMessage(ctx context.Context) error {
	if c.lp != nil {
		return c.loopLockMsg(ctx)
	}
	select {
	case c.msgLock <- struct{}{}:
		return nil
	default:
	}
	var deadline <-chan time.Time
	if d := c.writeDeadline(time.Time{}); !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		deadline = t.C
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	select {
	case c.msgLock <- struct{}{}:
		return nil
	case <-deadline:
		return fmt.Errorf("wsconn: another message is being written: %w", os.ErrDeadlineExceeded)
	case <-done:
		return ctx.Err()
	}
}

// NextWriter starts a message sent in fragments: each Write sends one
// fragment, Close sends the last. Fragmented messages go uncompressed
// (permessage-deflate compresses whole messages here: WriteMessage).
// Other data messages wait until Close; control frames may go out between
// fragments. While another message is being written, NextWriter waits for
// it at most the write timeout (or until the SetWriteDeadline deadline, if
// sooner), then returns os.ErrDeadlineExceeded.
func (c *Conn) NextWriter(op wsframe.Opcode) (io.WriteCloser, error) {
	return c.NextWriterContext(context.Background(), op)
}

// NextWriterContext is NextWriter bounded by ctx as well: waiting for the
// previous message and every fragment's write give up when ctx is done.
func (c *Conn) NextWriterContext(ctx context.Context, op wsframe.Opcode) (io.WriteCloser, error) {
	if op != wsframe.OpText && op != wsframe.OpBinary {
		return nil, ErrSequence
	}
	if err := c.lockMessage(ctx); err != nil {
		return nil, err
	}
	return &messageWriter{c: c, ctx: ctx, op: op}, nil
}

type messageWriter struct {
	c      *Conn
	ctx    context.Context
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
	if err := w.c.writeFragment(w.ctx, w.op, false, p); err != nil {
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
	defer w.c.unlockMessage()
	return w.c.writeFragment(w.ctx, w.op, true, nil)
}

// writeFragment sends a fragment of a message being streamed.
func (c *Conn) writeFragment(ctx context.Context, op wsframe.Opcode, fin bool, p []byte) error {
	if c.lp != nil {
		return c.loopSend(op, fin, p, false)
	}
	return c.writeMessageFrame(ctx, op, fin, p, false)
}

// unlockMessage releases what lockMessage took.
func (c *Conn) unlockMessage() {
	if c.lp != nil {
		c.lp.msgMu.Unlock()
		return
	}
	<-c.msgLock
}

// WritePing sends a Ping without waiting for the Pong.
func (c *Conn) WritePing(p []byte) error {
	if c.lp != nil {
		return c.loopSend(wsframe.OpPing, true, p, false)
	}
	return c.writeMessageFrame(nil, wsframe.OpPing, true, p, false)
}

// WritePong sends an unsolicited Pong (a heartbeat the peer ignores).
func (c *Conn) WritePong(p []byte) error {
	if c.lp != nil {
		return c.loopSend(wsframe.OpPong, true, p, false)
	}
	return c.writeMessageFrame(nil, wsframe.OpPong, true, p, false)
}

// Ping sends a Ping and waits for a Pong or for ctx. Pongs are seen by
// whoever reads (Run, ReadMessage, NextReader), so something must be
// reading the connection.
func (c *Conn) Ping(ctx context.Context, p []byte) error {
	if c.lp != nil {
		return c.loopPing(ctx, p)
	}
	select {
	case <-c.pongs: // forget a stale one
	default:
	}
	if err := c.writeMessageFrame(ctx, wsframe.OpPing, true, p, false); err != nil {
		return err
	}
	select {
	case <-c.pongs:
		return nil
	case <-c.done:
		return ErrPongLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrPongLost is returned by Ping when the connection's read side ended
// before a Pong came.
var ErrPongLost = errors.New("wsconn: connection ended before the pong")

// ErrCloseTimeout is returned by Close when the close handshake did not
// complete within the close timeout: this end's Close could not be sent (a
// writer held the connection, or the peer does not read) or the peer's
// Close did not come; the connection is closed without a handshake.
var ErrCloseTimeout = errors.New("wsconn: close timed out")

// Close performs the close handshake within the close timeout, whatever
// other goroutines are doing: it sends a Close with code and reason, waits
// for the peer's Close (read by a concurrent reader or by Close itself),
// then closes the connection, lingering in the background so that data in
// flight to the peer is not destroyed. It returns nil once the peer's
// Close has come (before the call too), ErrCloseTimeout when it did not
// come in time, and a *CloseError with CloseAbnormal when the connection
// ended without it. An invalid code or reason is an error that leaves the
// connection as it was.
func (c *Conn) Close(code wsframe.CloseCode, reason string) error {
	if c.lp != nil {
		return c.loopClose(code, reason)
	}
	deadline := time.Now().Add(c.opts.CloseTimeout)
	if err := c.sendClose(code, reason, deadline); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	if c.readMu.TryLock() {
		// Nobody is reading: read to the peer's Close ourselves.
		c.nc.SetReadDeadline(deadline)
		for {
			if _, rerr := c.nextEvent(); rerr != nil {
				break
			}
		}
		c.readMu.Unlock()
	} else {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
		}
	}
	c.mu.Lock()
	answered := c.s.CloseReceived()
	c.mu.Unlock()
	switch {
	case answered:
		return nil
	case !c.endingStarted.Load():
		c.closeNow() // no Close from the peer in time
	}
	if !time.Now().Before(deadline) {
		return ErrCloseTimeout
	}
	return &CloseError{Code: wsframe.CloseAbnormal}
}

// CloseSend sends a Close with code and reason, within the close timeout,
// and returns without waiting for the peer's. The reader (ReadMessage,
// NextReader, Run) goes on receiving what the peer sent before its Close,
// then gets the *CloseError with the peer's code. Close, by contrast,
// reads to the peer's Close itself when no reader holds the connection at
// that moment (one between two ReadMessage calls, say), and the messages on
// the way are lost. The caller bounds the wait for the peer's Close (with
// CloseNow). Like Close, an invalid code or reason is an error that leaves
// the connection as it was.
func (c *Conn) CloseSend(code wsframe.CloseCode, reason string) error {
	if c.lp != nil {
		return c.loopClose(code, reason)
	}
	return c.sendClose(code, reason, time.Now().Add(c.opts.CloseTimeout))
}

// sendClose validates the Close, takes the write lock and sends the Close
// (after the replies queued), all by deadline; ErrClosed when this end's
// Close went out already. A Close that cannot be sent in time drops the
// connection.
func (c *Conn) sendClose(code wsframe.CloseCode, reason string, deadline time.Time) error {
	var probe [wsframe.MaxControlPayload]byte
	if _, err := wsframe.AppendClose(probe[:0], code, reason); err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.lockWrite(ctx); err != nil {
		c.closeNow()
		return ErrCloseTimeout
	}
	c.mu.Lock()
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	var err error
	c.wbuf, err = c.s.AppendClose(c.wbuf, code, reason)
	c.mu.Unlock()
	if len(c.wbuf) > 0 {
		if werr := c.writeLocked(deadline, c.wbuf); werr != nil && err == nil {
			err = werr
		}
	} else if err == nil {
		err = c.writeErr
	}
	c.unlockWrite()
	if err != nil && !errors.Is(err, ErrClosed) {
		c.closeNow()
	}
	return err
}

// CloseNow closes the TCP connection without a handshake. Once a read has
// ended with the peer's Close (or with a rule the peer broke), the reply
// and the lingering close are already under way, bounded by the close
// timeout: CloseNow lets them finish, so that a handler's
// `defer c.CloseNow()` after its read loop does not cut the reply the
// peer waits for.
func (c *Conn) CloseNow() error {
	if c.lp != nil {
		c.lp.t.CloseNow() // the loop, too, lets a close handshake under way finish
		return nil
	}
	if c.endingStarted.Load() {
		return nil
	}
	c.closeNow()
	return nil
}
