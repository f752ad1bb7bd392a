package evloop

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/internal/loophook"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Handler is the application, as server.Handler (which satisfies it).
type Handler interface {
	OnOpen(c *wsconn.Conn)
	OnMessage(c *wsconn.Conn, op wsframe.Opcode, data []byte)
	OnClose(c *wsconn.Conn, err error)
}

// Env is what a connection needs from its loop: non-blocking I/O on its
// socket, readiness interest, the loop's timers and clock, and a way to
// get the loop's attention from another goroutine. The epoll loop
// implements it, and so does the scripted fake of the tests.
type Env interface {
	// Read reads what the socket has: (0, ErrWouldBlock) when nothing,
	// (0, io.EOF) at its end.
	Read(c *Conn, p []byte) (int, error)
	// Writev writes what the socket takes of bufs, Write2 of a then b:
	// ErrWouldBlock when nothing.
	Writev(c *Conn, bufs [][]byte) (int, error)
	Write2(c *Conn, a, b []byte) (int, error)
	// Iov is the loop's scratch list for flushing a queue (the loop's
	// goroutine only).
	Iov() [][]byte
	// Shutdown half-closes (write) or shuts the socket down (both): any
	// goroutine may call it, and the loop then sees the socket readable.
	Shutdown(c *Conn, write bool)
	// Interest sets what the loop waits for on the socket; any goroutine.
	Interest(c *Conn, read, write bool)
	// Post asks the loop to call c.Posted soon; any goroutine.
	Post(c *Conn)
	// Release closes the socket and forgets c; the loop only.
	Release(c *Conn)
	Timers() *Timers
	Now() int64
	// Yield lets other goroutines (the handlers) run.
	Yield()
	// Scratch is the loop's buffer for a control payload, valid until the
	// loop handles the next event.
	Scratch() *[wsframe.MaxControlPayload]byte
	LocalAddr(c *Conn) net.Addr
	RemoteAddr(c *Conn) net.Addr
}

// ErrWouldBlock is the socket's EAGAIN.
var ErrWouldBlock = errors.New("evloop: would block")

// ErrSlowConsumer is why a connection whose write queue passed its bound
// was closed (1008, as the hub does with a subscriber that falls behind).
var ErrSlowConsumer = errors.New("server: slow consumer: the write queue passed its bound")

// ErrWriteStalled is why a connection that took no byte of its write queue
// for the write timeout was dropped.
var ErrWriteStalled = errors.New("server: the peer read nothing for the write timeout")

var errHandshakeTimeout = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string { return "websocket handshake: request head not received in time" }
func (*timeoutError) Status() int   { return 408 }

// Shared is what the connections of a server share.
type Shared struct {
	Handler Handler
	// Accept validates a request head and returns the 101 to send, the
	// subprotocol and the connection's options, or the error to answer
	// with (handshake.AppendRejection).
	// The options may be shared by many connections: they are not
	// changed once given.
	Accept           func(req *handshake.Request) (resp []byte, protocol string, o *wsconn.Options, err error)
	Limits           handshake.Limits
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	PingInterval     time.Duration
	PingTimeout      time.Duration
	CloseTimeout     time.Duration
	WriteTimeout     time.Duration // < 0: none
	// QueueLimit bounds a connection's write queue: a write that finds
	// more queued is refused and the connection closed with 1008.
	QueueLimit int
	// Pool runs the handlers (a *Pool); nil: on the loop.
	Pool Scheduler
	// The hooks of wsconn.Options, called on the loop.
	OnPing, OnPong func(c *wsconn.Conn, payload []byte)
	OnClose        func(c *wsconn.Conn, code wsframe.CloseCode, reason []byte)
	Logf           func(format string, args ...any)
	// Done is called once per connection when it is over (its OnClose
	// returned, or it never opened).
	Done func(c *Conn)
}

// Connection states.
const (
	stHandshake = iota // reading the request head
	stOpen
	stClosing // this end sent its Close; waiting for the peer's
	stLinger  // the close handshake is over (or failed): flush, half-close, drain
	stDrain   // the peer has gone (EOF): the bytes queued go out, then the end
	stDead
)

// Task kinds.
const (
	tOpen = iota
	tMessage
	tClose
)

type task struct {
	kind uint8
	op   wsframe.Opcode
	data []byte // a pooled buffer
	err  error
}

// Conn is one connection of a loop. The loop's goroutine owns the reading
// side (head reader, session input, message in progress, timers); mu
// guards what writers share with it (the write queue, interest, tasks).
type Conn struct {
	env Env
	sh  *Shared
	Fd  int32

	state    uint8  // loop only
	flags    uint16 // under mu
	msgOp    wsframe.Opcode
	lingered int32 // bytes drained while lingering

	head *handshake.HeadReader // while in the handshake
	wc   *wsconn.Conn
	side loophook.Side
	in   *inflight // while data is in flight (pooled), loop only

	raddr    *net.TCPAddr // the peer's address, once asked for (under mu)
	timer    Timer
	deadline int64 // handshake, close or linger deadline (loop only)
	pingSent int64 // loop only
	lastIn   atomic.Int64
	lastOut  int64 // when the queue last made progress (under mu)

	mu     sync.Mutex
	q      *WriteQueue // nil while empty
	tasks  *taskQueue  // while tasks wait for the pool (pooled), under mu
	endErr error       // why it ended, for OnClose (loop only)
}

// inflight is what a connection holds while data flows, and gives back
// when it stops: the message being gathered and the input read past a
// message the pool has not handled yet. Both are pooled buffers.
type inflight struct {
	msg   []byte
	stash []byte
}

var inflights = sync.Pool{New: func() any { return new(inflight) }}

// flight returns the connection's in-flight state, made on first need.
func (c *Conn) flight() *inflight {
	if c.in == nil {
		c.in = inflights.Get().(*inflight)
	}
	return c.in
}

// landed gives the in-flight state back once nothing is in it.
func (c *Conn) landed() {
	if c.in != nil && c.in.msg == nil && c.in.stash == nil {
		inflights.Put(c.in)
		c.in = nil
	}
}

// taskQueue is a connection's queue of handler calls waiting for the
// pool.
type taskQueue struct{ q []task }

var taskQueues = sync.Pool{New: func() any { return &taskQueue{q: make([]task, 0, 4)} }}

// Flags, under mu.
const (
	fWantWrite    = 1 << iota // waiting for writability
	fReadPaused               // reading stopped: the handler is behind
	fRunning                  // tasks scheduled or running
	fBroken                   // writes fail: the connection is going
	fCloseSent                // a writer sent this end's Close (to Posted)
	fDrop                     // a writer asked to drop the connection
	fResume                   // the handler caught up: resume reading
	fOverflow                 // the queue passed its bound
	fReleased                 // the socket is closed: its number may be another's
	fWaiting                  // the loop waits for the handler to finish
	fUnregistered             // out of the loop's epoll set (waiting for nothing)
	fCloseNow                 // the application asked to drop the connection (CloseNow)
)

// NewConn starts a connection in the handshake.
func NewConn(env Env, sh *Shared, fd int32) *Conn {
	c := &Conn{env: env, sh: sh, Fd: fd, state: stHandshake}
	c.timer = NewTimer(c)
	c.head = handshake.NewRequestReader(sh.Limits)
	now := env.Now()
	c.lastIn.Store(now)
	c.deadline = now + int64(sh.HandshakeTimeout)
	env.Timers().Set(&c.timer, c.deadline)
	return c
}

// NewRejected starts a connection that is refused with resp (503: over
// MaxConns): the answer goes out, then the connection lingers and closes.
func NewRejected(env Env, sh *Shared, fd int32, resp []byte) *Conn {
	c := &Conn{env: env, sh: sh, Fd: fd, state: stHandshake}
	c.timer = NewTimer(c)
	c.reject(resp)
	return c
}

// session is the connection's Session (side's lock held).
func (c *Conn) session() *wsconn.Session { return c.side.Session().(*wsconn.Session) }

// WSConn is the connection the handler sees, nil before the handshake.
func (c *Conn) WSConn() *wsconn.Conn { return c.wc }

// Dead reports whether the connection is over for the loop.
func (c *Conn) Dead() bool { return c.state == stDead }

// Readable handles the socket's readiness for reading: one read into buf
// (the loop's buffer; level-triggered readiness calls again while input
// is left), then everything that input means.
func (c *Conn) Readable(buf []byte) {
	if c.state == stDead {
		return
	}
	if c.state == stOpen || c.state == stClosing {
		if c.held() {
			return
		}
		if dst := c.directTarget(); dst != nil {
			buf = dst
		}
	}
	n, err := c.env.Read(c, buf)
	if n > 0 {
		c.lastIn.Store(c.env.Now())
		c.input(buf[:n])
	}
	if err != nil && err != ErrWouldBlock && c.state != stDead {
		c.readFailed(err)
	}
}

// directTarget returns the message buffer's spare room when the rest of a
// large data frame can be read straight into it (no copy out of the
// loop's buffer); nil otherwise. It grows with the bytes that arrive,
// never with the length a header announces.
func (c *Conn) directTarget() []byte {
	const step = 16 << 10
	if c.msgOp == 0 {
		return nil // no message in progress (and maybe no session)
	}
	c.side.Lock()
	rem := c.session().DataRemaining()
	c.side.Unlock()
	if rem < step {
		return nil
	}
	in := c.flight()
	if cap(in.msg)-len(in.msg) < step {
		nb := getBuf(max(2*cap(in.msg), len(in.msg)+step))
		nb = append(nb, in.msg...)
		putBuf(in.msg)
		in.msg = nb
	}
	n := min(int64(cap(in.msg)-len(in.msg)), rem)
	return in.msg[len(in.msg) : len(in.msg)+int(n)]
}

func (c *Conn) input(data []byte) {
	switch c.state {
	case stHandshake:
		c.handshake(data)
	case stOpen, stClosing:
		c.frames(data)
	case stLinger:
		c.lingered += int32(min(len(data), 1<<30))
		if c.lingered > lingerMaxBytes {
			c.release()
		}
	}
}

// lingerMaxBytes bounds what a lingering close reads and discards.
const lingerMaxBytes = 4 << 20

func (c *Conn) handshake(data []byte) {
	rest, done, err := c.head.Feed(data)
	if err != nil {
		c.reject(handshake.AppendRejection(nil, err))
		return
	}
	if !done {
		return
	}
	req := c.head.Request()
	c.head = nil
	resp, protocol, o, err := c.sh.Accept(req)
	if err != nil {
		c.reject(handshake.AppendRejection(nil, err))
		return
	}
	conn, side := loophook.NewConn(loophook.Config{Transport: (*transport)(c), Protocol: protocol, Options: o})
	c.wc, c.side = conn.(*wsconn.Conn), side
	c.state = stOpen
	if err := c.send(resp); err != nil {
		// The 101 did not go out (the peer reset the connection): the
		// application never had it, as with a goroutine per connection,
		// where no Conn is made then. No OnOpen, so no OnClose: the
		// connection ends as one still in its handshake.
		c.endSide()
		c.wc, c.side = nil, nil
		c.state = stHandshake
		c.release()
		return
	}
	c.dispatch(task{kind: tOpen})
	c.schedule()
	if len(rest) > 0 {
		c.frames(rest)
	}
}

// reject answers a bad head and closes after the answer is out.
func (c *Conn) reject(resp []byte) {
	c.head = nil
	c.state = stLinger
	c.send(resp)
	c.deadline = c.env.Now() + int64(time.Second)
	c.env.Timers().Set(&c.timer, c.deadline)
	c.flushed()
}

// held reports whether the connection's input waits for its handler (the
// pool is running its tasks): as with a goroutine per connection, the
// next frame is read only once the handler has returned, so that a Close
// or a protocol error that follows messages is answered after their
// replies. Reading pauses until the worker posts that it is done.
func (c *Conn) held() bool {
	if c.sh.Pool == nil {
		return false
	}
	c.mu.Lock()
	running := c.flags&fRunning != 0
	c.mu.Unlock()
	if !running {
		return false
	}
	// The handler usually returns at once: let it (on one P it runs
	// here), rather than stop reading and be told it finished.
	c.env.Yield()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&fRunning == 0 {
		return false
	}
	c.flags |= fWaiting
	if c.flags&fReadPaused == 0 {
		c.flags |= fReadPaused
		c.env.Interest(c, false, c.flags&fWantWrite != 0)
	}
	return true
}

// frames feeds input to the session and acts on its events. An event is
// copied out under the session's lock: once the lock is released a writer
// may give a session at rest back to the pool (and another connection
// take it), so nothing of the session's is used after it. Message pieces
// alias the input; a control payload is copied to ctrl.
func (c *Conn) frames(data []byte) {
	ctrl := c.env.Scratch()
	for c.state == stOpen || c.state == stClosing {
		if len(data) > 0 && c.held() {
			in := c.flight()
			in.stash = appendGrow(in.stash, data)
			return
		}
		c.side.Lock()
		s := c.session()
		sev, n, err := s.Next(data)
		data = data[n:]
		ev := *sev
		if ev.Kind != wsconn.EventData && ev.Kind != wsconn.EventNone {
			k := copy(ctrl[:], ev.Data)
			ev.Data = ctrl[:k]
			if ev.Kind == wsconn.EventClose && len(ev.Reason) > 0 {
				ev.Reason = ctrl[k-len(ev.Reason) : k]
			}
		}
		var reply error
		if p := s.Pending(); len(p) > 0 {
			reply = c.sendLocked(p)
			s.ClearPending()
		}
		if err == nil && ev.Kind == wsconn.EventNone {
			c.side.Rest() // the input is used up: an idle connection holds no Session
		}
		c.side.Unlock()
		if err != nil {
			c.closed(err)
			return
		}
		if reply != nil {
			return // the connection is going (slow consumer)
		}
		switch ev.Kind {
		case wsconn.EventNone:
			return
		case wsconn.EventData:
			c.data(&ev)
		case wsconn.EventPing:
			if c.sh.OnPing != nil {
				c.sh.OnPing(c.wc, ev.Data)
			}
		case wsconn.EventPong:
			c.side.Pong(ev.Data)
			if c.sh.OnPong != nil {
				c.sh.OnPong(c.wc, ev.Data)
			}
		case wsconn.EventClose:
			if c.sh.OnClose != nil {
				c.sh.OnClose(c.wc, ev.Code, ev.Reason)
			}
			c.closed(&wsconn.CloseError{Code: ev.Code, Reason: string(ev.Reason)})
			return
		}
	}
}

// data handles a message piece: a whole message in one piece goes to the
// handler from where it lies (on the loop) or in a pooled copy (on the
// pool); pieces are gathered in a pooled buffer.
func (c *Conn) data(ev *wsconn.Event) {
	if ev.Start {
		c.msgOp = ev.Opcode
	}
	if ev.Start && ev.End && c.sh.Pool == nil {
		c.sh.Handler.OnMessage(c.wc, ev.Opcode, ev.Data)
		c.msgOp = 0
		return
	}
	in := c.flight()
	if in.msg == nil {
		in.msg = getBuf(len(ev.Data))
	}
	if len(ev.Data) > 0 && cap(in.msg) > len(in.msg) && &in.msg[:len(in.msg)+1][len(in.msg)] == &ev.Data[0] {
		in.msg = in.msg[:len(in.msg)+len(ev.Data)] // read in place (directTarget)
	} else {
		in.msg = appendGrow(in.msg, ev.Data)
	}
	if !ev.End {
		return
	}
	m, op := in.msg, c.msgOp
	in.msg, c.msgOp = nil, 0
	c.landed()
	if c.sh.Pool == nil {
		c.sh.Handler.OnMessage(c.wc, op, m)
		putBuf(m)
		return
	}
	c.dispatch(task{kind: tMessage, op: op, data: m})
}

// closed ends the session's side: the peer's Close (a *wsconn.CloseError)
// or a protocol error. The reply or the error's Close is queued; the
// connection lingers until it is out.
func (c *Conn) closed(err error) {
	if c.endErr == nil {
		c.endErr = err
	}
	c.linger()
}

// linger flushes what is queued, then half-closes and drains the input
// (bounded in bytes and by the close timeout) so that the peer's last
// bytes are not destroyed by a reset.
func (c *Conn) linger() {
	if c.state >= stLinger {
		return
	}
	c.state = stLinger
	c.dropMessage()
	c.deadline = c.env.Now() + int64(c.sh.CloseTimeout)
	c.env.Timers().Set(&c.timer, c.deadline)
	c.side.Lock() // a compressed message cut short holds an inflater
	c.side.Release()
	c.side.Unlock()
	c.flushed()
}

func (c *Conn) dropMessage() {
	if in := c.in; in != nil {
		putBuf(in.stash)
		putBuf(in.msg)
		in.stash, in.msg = nil, nil
		c.landed()
	}
	c.msgOp = 0
}

// flushed half-closes a lingering connection once its queue is empty.
func (c *Conn) flushed() {
	c.mu.Lock()
	empty := c.q == nil
	c.mu.Unlock()
	if c.state == stLinger && empty {
		c.env.Shutdown(c, true)
	}
}

func (c *Conn) readFailed(err error) {
	if c.endErr == nil {
		if errors.Is(err, io.EOF) || c.state == stLinger {
			c.endErr = &wsconn.CloseError{Code: wsframe.CloseAbnormal}
		} else {
			c.endErr = err
		}
	}
	if errors.Is(err, io.EOF) && c.drain() {
		return
	}
	c.release()
}

// drain handles the peer's end of input while bytes wait in the queue
// (an echo, the Close reply, the 101): as a goroutine that wrote them
// before reading on, they go out before the socket is closed, within the
// close timeout. It reports whether there was anything to wait for.
func (c *Conn) drain() bool {
	c.mu.Lock()
	waiting := c.q != nil && c.flags&fBroken == 0
	if waiting {
		c.flags |= fReadPaused
		c.env.Interest(c, false, true)
	}
	c.mu.Unlock()
	if !waiting {
		return false
	}
	c.state = stDrain
	c.head = nil
	c.dropMessage()
	c.deadline = c.env.Now() + int64(c.sh.CloseTimeout)
	c.env.Timers().Set(&c.timer, c.deadline)
	return true
}

// release closes the socket and ends the connection: OnClose is queued
// after every message.
func (c *Conn) release() {
	if c.state == stDead {
		return
	}
	opened := c.wc != nil
	c.state = stDead
	c.head = nil
	c.dropMessage()
	c.env.Timers().Stop(&c.timer)
	c.mu.Lock()
	c.flags |= fBroken | fReleased
	if c.raddr == nil && opened {
		c.raddr, _ = c.env.RemoteAddr(c).(*net.TCPAddr) // for a handler that asks in OnClose
	}
	if c.q != nil {
		c.q.Reset()
		c.q = nil
	}
	c.mu.Unlock()
	if opened {
		c.endSide()
	}
	c.env.Release(c)
	if !opened {
		c.sh.Done(c)
		return
	}
	err := c.endErr
	if err == nil {
		err = &wsconn.CloseError{Code: wsframe.CloseAbnormal}
	}
	c.dispatch(task{kind: tClose, err: err})
}

// endSide ends the wsconn.Conn's side: its Session goes back to the pool,
// Done closes, writes fail.
func (c *Conn) endSide() {
	c.side.Lock()
	c.side.Release()
	c.side.Unlock()
	c.side.End()
}

// Writable handles the socket's readiness for writing.
func (c *Conn) Writable() {
	if c.state == stDead {
		return
	}
	c.mu.Lock()
	c.flushLocked()
	empty := c.q == nil
	c.mu.Unlock()
	if c.state == stDrain && empty {
		c.release()
		return
	}
	c.flushed()
}

// flushLocked writes what the socket takes of the queue.
func (c *Conn) flushLocked() {
	iov := c.env.Iov()
	for c.q != nil {
		bufs := c.q.Bufs(iov[:0], cap(iov))
		n, err := c.env.Writev(c, bufs)
		clear(bufs)
		if n > 0 {
			c.q.Consume(n)
			c.lastOut = c.env.Now()
			if c.q.Len() == 0 {
				c.q = nil
			}
			continue
		}
		if err == ErrWouldBlock {
			break
		}
		c.brokenLocked()
		return
	}
	want := c.q != nil
	if want != (c.flags&fWantWrite != 0) {
		c.flags ^= fWantWrite
		c.env.Interest(c, c.flags&fReadPaused == 0, want)
	}
}

// brokenLocked marks the connection broken after a failed write: nothing
// more can be sent; the loop drops it.
func (c *Conn) brokenLocked() {
	c.flags |= fBroken | fDrop
	if c.q != nil {
		c.q.Reset()
		c.q = nil
	}
	c.env.Shutdown(c, false)
}

// send writes b (the loop's own sends: the 101, a rejection).
func (c *Conn) send(b []byte) error { return (*transport)(c).Send(b, nil) }

// sendLocked sends the session's replies (the session's lock is held).
func (c *Conn) sendLocked(b []byte) error { return (*transport)(c).Send(b, nil) }

// Timer handles the connection's timer: it looks at the clock and its
// deadlines, acts on what is due and sets the next one.
func (c *Conn) Timer(now int64) {
	switch c.state {
	case stDead:
		return
	case stHandshake:
		if now >= c.deadline {
			c.endErr = errHandshakeTimeout
			c.reject(handshake.AppendRejection(nil, errHandshakeTimeout))
			return
		}
	case stLinger, stDrain:
		if now >= c.deadline {
			c.release()
			return
		}
	case stClosing:
		if now >= c.deadline {
			c.release() // no Close from the peer in time
			return
		}
	}
	if c.stalled(now) {
		c.endErr = ErrWriteStalled
		c.release()
		return
	}
	if c.state == stOpen {
		if c.keepalive(now) {
			return
		}
	}
	c.setTimer(now)
}

// stalled reports a write queue that took no byte for the write timeout.
func (c *Conn) stalled(now int64) bool {
	if c.sh.WriteTimeout < 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q != nil && now-c.lastOut >= int64(c.sh.WriteTimeout)
}

// keepalive applies the idle timeout and pings; true when it ended the
// connection's open state.
func (c *Conn) keepalive(now int64) bool {
	sh := c.sh
	last := c.lastIn.Load()
	interval, timeout := int64(sh.PingInterval), int64(sh.PingTimeout)
	if timeout <= 0 {
		timeout = interval
	}
	switch {
	case sh.IdleTimeout > 0 && now-last >= int64(sh.IdleTimeout):
		c.closeWith(wsframe.CloseGoingAway, "idle timeout")
		return true
	case c.pingSent != 0 && last < c.pingSent && now-c.pingSent >= timeout:
		sh.Logf("server: %v: %v", c.env.RemoteAddr(c), wsconn.ErrPingTimeout)
		c.endErr = fmt.Errorf("%w: %w", &wsconn.CloseError{Code: wsframe.CloseAbnormal}, wsconn.ErrPingTimeout)
		c.release()
		return true
	case interval > 0 && now-last >= interval && (c.pingSent == 0 || last >= c.pingSent):
		c.pingSent = now
		c.wc.WritePing(nil)
	}
	return false
}

// setTimer schedules the nearest deadline of the connection's state.
func (c *Conn) setTimer(now int64) {
	sh := c.sh
	next := int64(0)
	at := func(t int64) {
		if next == 0 || t < next {
			next = t
		}
	}
	switch c.state {
	case stHandshake, stLinger, stClosing, stDrain:
		at(c.deadline)
	}
	if c.state == stOpen {
		last := c.lastIn.Load()
		if sh.IdleTimeout > 0 {
			at(last + int64(sh.IdleTimeout))
		}
		if sh.PingInterval > 0 {
			timeout := sh.PingTimeout
			if timeout <= 0 {
				timeout = sh.PingInterval
			}
			if c.pingSent != 0 && last < c.pingSent {
				at(c.pingSent + int64(timeout))
			} else {
				at(last + int64(sh.PingInterval))
			}
		}
	}
	if sh.WriteTimeout >= 0 {
		c.mu.Lock()
		if c.q != nil {
			at(c.lastOut + int64(sh.WriteTimeout))
		}
		c.mu.Unlock()
	}
	if next == 0 {
		c.env.Timers().Stop(&c.timer)
		return
	}
	if next <= now {
		next = now + 1
	}
	c.env.Timers().Set(&c.timer, next)
}

// schedule sets the timer after a state change.
func (c *Conn) schedule() { c.setTimer(c.env.Now()) }

// closeWith sends this end's Close and waits for the peer's (close
// timeout): the loop's own Close (idle timeout, shutdown).
func (c *Conn) closeWith(code wsframe.CloseCode, reason string) {
	if c.state != stOpen {
		return
	}
	c.wc.CloseSend(code, reason) // through the transport: Posted follows
	c.toClosing()
}

func (c *Conn) toClosing() {
	if c.state != stOpen {
		return
	}
	c.state = stClosing
	c.deadline = c.env.Now() + int64(c.sh.CloseTimeout)
	c.env.Timers().SetEarlier(&c.timer, c.deadline)
}

// Shutdown sends 1001 to an open connection and drops one still in the
// handshake; the loop only.
func (c *Conn) Shutdown() {
	switch c.state {
	case stHandshake:
		c.release()
	case stOpen:
		c.closeWith(wsframe.CloseGoingAway, "server shutting down")
	}
}

// Drop closes the connection now; the loop only.
func (c *Conn) Drop() { c.release() }

// Posted handles what writers asked of the loop.
func (c *Conn) Posted() {
	if c.state == stDead {
		return
	}
	c.mu.Lock()
	if c.flags&fCloseNow != 0 && c.state < stLinger {
		c.flags |= fDrop | fBroken
	}
	f := c.flags
	c.flags &^= fCloseSent | fResume | fCloseNow
	if f&fResume != 0 && c.flags&fReadPaused != 0 && c.state < stLinger {
		c.flags &^= fReadPaused
		c.env.Interest(c, true, c.flags&fWantWrite != 0)
	}
	c.mu.Unlock()
	if f&fResume != 0 && c.in != nil && c.in.stash != nil && (c.state == stOpen || c.state == stClosing) {
		st := c.in.stash
		c.in.stash = nil
		c.landed()
		c.frames(st)
		putBuf(st)
	}
	switch {
	case f&fDrop != 0:
		if f&fOverflow != 0 && c.endErr == nil {
			c.endErr = ErrSlowConsumer
		}
		if c.endErr == nil {
			c.endErr = &wsconn.CloseError{Code: wsframe.CloseAbnormal}
		}
		c.release()
		return
	case f&fOverflow != 0:
		if c.endErr == nil {
			c.endErr = ErrSlowConsumer
		}
		c.closeWith(wsframe.ClosePolicyViolation, "slow consumer")
	case f&fCloseSent != 0:
		c.toClosing()
	}
	c.schedule()
}

// dispatch hands a task to the handler: on the loop, at once; on the
// pool, queued behind the connection's earlier tasks.
func (c *Conn) dispatch(t task) {
	if c.sh.Pool == nil {
		c.run(t)
		return
	}
	c.mu.Lock()
	if c.tasks == nil {
		c.tasks = taskQueues.Get().(*taskQueue)
	}
	c.tasks.q = append(c.tasks.q, t)
	start := c.flags&fRunning == 0
	c.flags |= fRunning
	c.mu.Unlock()
	if start {
		c.sh.Pool.Schedule(c)
	}
}

// maxBatch is how many tasks a worker runs for one connection before
// letting the others have a turn.
const maxBatch = 16

// RunQueued runs the connection's queued tasks on a worker (Runner).
func (c *Conn) RunQueued() bool {
	for range maxBatch {
		c.mu.Lock()
		if c.tasks == nil || len(c.tasks.q) == 0 {
			c.flags &^= fRunning
			if c.tasks != nil {
				c.tasks.q = c.tasks.q[:0]
				taskQueues.Put(c.tasks)
				c.tasks = nil
			}
			waiting := c.flags&fWaiting != 0
			c.flags &^= fWaiting
			if waiting {
				c.flags |= fResume
			}
			c.mu.Unlock()
			if waiting {
				c.env.Post(c)
			}
			return false
		}
		q := c.tasks.q
		t := q[0]
		copy(q, q[1:])
		q[len(q)-1] = task{}
		c.tasks.q = q[:len(q)-1]
		c.mu.Unlock()
		c.run(t)
	}
	return true
}

func (c *Conn) run(t task) {
	h := c.sh.Handler
	switch t.kind {
	case tOpen:
		h.OnOpen(c.wc)
	case tMessage:
		h.OnMessage(c.wc, t.op, t.data)
		putBuf(t.data)
	case tClose:
		h.OnClose(c.wc, t.err)
		c.sh.Done(c)
	}
}

// transport is the Conn as the wsconn.Conn's loophook.Transport.
type transport Conn

// Send writes head and tail (a frame's header and the payload where it
// lies; tail may be nil): two slices, not a variadic list, so that a
// write allocates nothing.
func (t *transport) Send(head, tail []byte) error {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&fBroken != 0 {
		return net.ErrClosed
	}
	return t.sendLocked(head, tail, nil, true)
}

// SendBufs writes several frames (prepared messages) in one writev.
func (t *transport) SendBufs(bufs [][]byte) error {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&fBroken != 0 {
		return net.ErrClosed
	}
	return t.sendLocked(nil, nil, bufs, true)
}

// SendFinal is Send for this end's Close, which goes out whatever the
// queue holds (it is the last frame).
func (t *transport) SendFinal(b []byte) error {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&fBroken != 0 {
		return net.ErrClosed
	}
	return t.sendLocked(b, nil, nil, false)
}

// sendLocked writes a and b, or bufs when not nil, and queues what the
// socket does not take.
func (t *transport) sendLocked(a, b []byte, bufs [][]byte, bounded bool) error {
	c := (*Conn)(t)
	if bounded && c.q != nil && c.q.Len() > c.sh.QueueLimit {
		if c.flags&fOverflow == 0 {
			c.flags |= fOverflow
			c.env.Post(c)
		}
		return ErrSlowConsumer
	}
	n := 0
	if c.q == nil {
		// Nothing queued: write now, queue what the socket leaves.
		var err error
		if bufs != nil {
			n, err = c.env.Writev(c, bufs)
		} else {
			n, err = c.env.Write2(c, a, b)
		}
		if err != nil && err != ErrWouldBlock {
			c.brokenLocked()
			return err
		}
	}
	n = c.queueRest(n, a)
	n = c.queueRest(n, b)
	for _, p := range bufs {
		n = c.queueRest(n, p)
	}
	if c.q != nil && c.flags&fWantWrite == 0 {
		c.flags |= fWantWrite
		c.env.Interest(c, c.flags&fReadPaused == 0, true)
		c.env.Post(c) // the loop sets the write-progress deadline
	}
	return nil
}

// queueRest queues what is left of p once n bytes of the send are
// written, and returns what is left of n.
func (c *Conn) queueRest(n int, p []byte) int {
	if n >= len(p) {
		return n - len(p)
	}
	if c.q == nil {
		c.q = new(WriteQueue)
		c.lastOut = c.env.Now()
	}
	c.q.Push(p[n:])
	return 0
}

func (t *transport) CloseSent() {
	c := (*Conn)(t)
	c.mu.Lock()
	c.flags |= fCloseSent
	c.mu.Unlock()
	c.env.Post(c)
}

// CloseNow drops the connection, unless its close handshake is over and
// the reply is on its way (lingering, bounded by the close timeout): as
// with goroutines, a handler's CloseNow after the peer's Close does not
// cut the reply.
func (t *transport) CloseNow() {
	c := (*Conn)(t)
	c.mu.Lock()
	c.flags |= fCloseNow
	c.mu.Unlock()
	c.env.Post(c)
}

func (t *transport) LastActivity() time.Time { return time.Unix(0, (*Conn)(t).lastIn.Load()) }

// LocalAddr and RemoteAddr ask the socket while it is open (never after:
// its number may be another connection's by then).
func (t *transport) LocalAddr() net.Addr {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags&fReleased != 0 {
		return &net.TCPAddr{}
	}
	if a := c.env.LocalAddr(c); a != nil {
		return a
	}
	return &net.TCPAddr{}
}

func (t *transport) RemoteAddr() net.Addr {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raddr == nil && c.flags&fReleased == 0 {
		c.raddr, _ = c.env.RemoteAddr(c).(*net.TCPAddr)
	}
	if c.raddr == nil {
		return &net.TCPAddr{}
	}
	return c.raddr
}
