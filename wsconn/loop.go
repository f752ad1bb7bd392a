package wsconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wsfsm/wsfsm/internal/loophook"
	"github.com/wsfsm/wsfsm/wsframe"
)

// A Conn of the server's event loop (server.Server with EventLoop set) is
// read by the loop, which feeds the connection's Session and hands whole
// messages to the handler; its reading methods return ErrEventLoop. Its
// writes never block: what the socket does not take at once waits in the
// connection's bounded queue, and a connection whose queue passes the
// bound is closed (1008). Close and CloseSend send the Close and return;
// the loop finishes the close handshake within the close timeout.
//
// The loop makes such a Conn through internal/loophook (set below), which
// keeps it out of this package's API.

// ErrEventLoop is returned by the reading methods of a connection that the
// server's event loop reads (server.Options.EventLoop): its handler gets
// the messages.
var ErrEventLoop = loophook.ErrLoopReads

// loopConn is what a loop-mode Conn holds beside its Session: the loop's
// transport and, made on first use, the channels of Done and Ping.
type loopConn struct {
	t     loophook.Transport
	msgMu sync.Mutex // held by a data message being written (fragments)
	done  chan struct{}
	pongs chan []byte
	// While the connection rests its Session goes back to a pool (see
	// loopRest); these carry what the next one needs.
	base   int64 // stream bytes the earlier sessions consumed
	maxMsg int64 // the message limit (SetReadLimit may change it)
}

// sessions are the Sessions of resting loop connections' past: a loop
// connection holds one only while something is in progress.
var sessions = sync.Pool{New: func() any { return new(Session) }}

// loopSession returns the connection's Session, taking one from the pool
// when it rests; c.mu is held.
func (c *Conn) loopSession() *Session {
	if c.s == nil {
		s := sessions.Get().(*Session)
		s.init(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: c.lp.maxMsg, MaxFragments: c.opts.MaxFragments})
		s.base = c.lp.base
		c.s = s
	}
	return c.s
}

// loopRest gives the Session back to the pool when the connection is at
// rest: between frames, no message being read or written, nothing
// pending, not closing, no compression state. A fresh one continues
// exactly where it stopped (the stream offset and the message limit are
// all there is). c.mu is held.
func (c *Conn) loopRest() {
	s := c.s
	if s == nil || !s.atRest() {
		return
	}
	c.lp.base = s.base + s.parser.Offset()
	c.lp.maxMsg = s.cfg.MaxMessageSize
	c.s = nil
	s.recycle()
	sessions.Put(s)
}

func init() {
	loophook.NewConn = newLoopConn
}

// newLoopConn makes a server-role Conn and its loop side in one
// allocation. Its Session comes from a pool while the connection is busy
// (with permessage-deflate, whose context lives on, it keeps its own).
func newLoopConn(cfg loophook.Config) (any, loophook.Side) {
	o, ok := cfg.Options.(*Options)
	if !ok || o == nil {
		o = &Options{}
	}
	b := &struct {
		Conn
		loopConn
	}{}
	c := &b.Conn
	c.opts, c.protocol = o, cfg.Protocol
	c.lp = &b.loopConn
	c.lp.t = cfg.Transport
	c.lp.maxMsg = o.MaxMessageSize
	if o.Deflate != nil {
		c.s = NewSession(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: o.MaxMessageSize, MaxFragments: o.MaxFragments,
			Deflate: o.Deflate, CompressThreshold: o.CompressThreshold})
	}
	c.lastIn.Store(time.Now().UnixNano())
	return c, (*loopSide)(c)
}

// loopSide is the Conn as the loop's loophook.Side.
type loopSide Conn

func (l *loopSide) Lock()   { l.mu.Lock() }
func (l *loopSide) Unlock() { l.mu.Unlock() }

// Session returns the Session (a *Session), taken from the pool if the
// connection rested; Rest gives it back if it is at rest. Both with the
// lock held.
func (l *loopSide) Session() any { return (*Conn)(l).loopSession() }
func (l *loopSide) Rest()        { (*Conn)(l).loopRest() }

func (l *loopSide) Release() {
	if l.s != nil {
		l.s.Release()
	}
}

func (l *loopSide) Pong(p []byte) {
	c := (*Conn)(l)
	c.mu.Lock()
	ch := c.lp.pongs
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- append([]byte(nil), p...):
		default:
		}
	}
}

func (l *loopSide) End() {
	c := (*Conn)(l)
	c.closed.Store(true) // before mu: loopDone sees it, or makes the channel closed here
	c.mu.Lock()
	if c.lp.done != nil {
		close(c.lp.done)
	}
	c.mu.Unlock()
}

// closedChan is the Done of a loop-mode connection that ended before
// anyone asked.
var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (c *Conn) loopDone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lp.done == nil {
		if c.closed.Load() {
			return closedChan
		}
		c.lp.done = make(chan struct{})
	}
	return c.lp.done
}

// loopBufs are the buffers loop-mode writes frame into: a connection
// holds none between writes.
var loopBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// loopSend frames one frame (after the replies the session queued) and
// hands it to the transport, under the session's lock: frames go out in
// the order the session framed them.
func (c *Conn) loopSend(op wsframe.Opcode, fin bool, p []byte, compress bool) error {
	if compress && fin && (op == wsframe.OpText || op == wsframe.OpBinary) && c.opts.Deflate != nil {
		// With the extension the connection keeps its Session (c.s is
		// never swapped).
		// Compression is write-side state, serialised by msgMu; the
		// session's lock is not held meanwhile.
		z, ok, err := c.s.Compress(p)
		if err != nil {
			return err
		}
		if ok {
			return c.loopFrame(func(b []byte) ([]byte, []byte, error) {
				b, err := c.s.AppendCompressed(b, op, z)
				return b, nil, err
			})
		}
	}
	return c.loopFrame(func(b []byte) ([]byte, []byte, error) {
		if len(p) > writevThreshold {
			b, _, err := c.s.AppendHeader(b, op, fin, len(p))
			return b, p, err
		}
		b, err := c.s.AppendFrame(b, op, fin, p)
		return b, nil, err
	})
}

// loopFrame runs frame under the session's lock on a pooled buffer that
// starts with the queued replies, and sends the result (and tail, a
// payload sent from where it lies).
func (c *Conn) loopFrame(frame func(b []byte) (head, tail []byte, err error)) error {
	bp := loopBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			*bp = (*bp)[:0]
			loopBufs.Put(bp)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.loopSession()
	defer c.loopRest()
	b := append((*bp)[:0], s.Pending()...)
	s.ClearPending()
	queued := len(b)
	b, tail, err := frame(b)
	*bp = b
	if err != nil {
		if queued > 0 { // the frame was refused; the replies still go
			c.lp.t.Send(b[:queued], nil)
		}
		return err
	}
	return c.lp.t.Send(b, tail)
}

// loopWriteMessage sends a whole message, after any message being
// streamed with NextWriter.
func (c *Conn) loopWriteMessage(ctx context.Context, op wsframe.Opcode, p []byte, compress bool) error {
	if err := c.loopLockMsg(ctx); err != nil {
		return err
	}
	defer c.lp.msgMu.Unlock()
	return c.loopSend(op, true, p, compress)
}

// loopLockMsg takes msgMu or gives up with ctx (nil: none) or at the
// write timeout, as lockMessage. A loop-mode write never waits for the
// network, only for a message being streamed with NextWriter; that wait
// polls, which costs nothing unless NextWriter is in use.
func (c *Conn) loopLockMsg(ctx context.Context) error {
	if c.lp.msgMu.TryLock() {
		return nil
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	var deadline time.Time
	if wt := c.opts.WriteTimeout; wt >= 0 {
		deadline = time.Now().Add(cmp.Or(wt, DefaultWriteTimeout))
	}
	for wait := 50 * time.Microsecond; !c.lp.msgMu.TryLock(); wait = min(2*wait, 10*time.Millisecond) {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("wsconn: another message is being written: %w", os.ErrDeadlineExceeded)
		}
		t := time.NewTimer(wait)
		select {
		case <-done:
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// loopClose sends this end's Close and leaves the rest of the handshake
// to the loop.
func (c *Conn) loopClose(code wsframe.CloseCode, reason string) error {
	var probe [wsframe.MaxControlPayload]byte
	if _, err := wsframe.AppendClose(probe[:0], code, reason); err != nil {
		return err
	}
	bp := loopBufs.Get().(*[]byte)
	defer loopBufs.Put(bp)
	c.mu.Lock()
	s := c.loopSession()
	b := append((*bp)[:0], s.Pending()...)
	s.ClearPending()
	queued := len(b)
	b, err := s.AppendClose(b, code, reason)
	*bp = b[:0]
	if err == nil {
		err = c.lp.t.SendFinal(b)
	} else if queued > 0 {
		c.lp.t.Send(b[:queued], nil)
	}
	c.mu.Unlock()
	if err == nil {
		c.lp.t.CloseSent()
	} else if !errors.Is(err, ErrClosed) {
		c.lp.t.CloseNow()
	}
	return err
}

// loopPing sends a Ping and waits for a Pong, the end, or ctx.
func (c *Conn) loopPing(ctx context.Context, p []byte) error {
	c.mu.Lock()
	if c.lp.pongs == nil {
		c.lp.pongs = make(chan []byte, 1)
	}
	pongs := c.lp.pongs
	c.mu.Unlock()
	select {
	case <-pongs:
	default:
	}
	if err := c.loopSend(wsframe.OpPing, true, p, false); err != nil {
		return err
	}
	select {
	case <-pongs:
		return nil
	case <-c.loopDone():
		return ErrPongLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loopRawFrames writes prepared frames, in one send.
func (c *Conn) loopRawFrames(frames []rawFrame) error {
	if err := c.loopLockMsg(nil); err != nil {
		return err
	}
	defer c.lp.msgMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loopSession()
	defer c.loopRest()
	for _, f := range frames {
		if err := c.s.checkSend(f.op, true, f.n); err != nil {
			if p := c.s.Pending(); len(p) > 0 {
				c.lp.t.Send(p, nil)
				c.s.ClearPending()
			}
			return err
		}
	}
	var small [33][]byte
	bufs := small[:0]
	if p := c.s.Pending(); len(p) > 0 {
		bufs = append(bufs, p)
	}
	for _, f := range frames {
		bufs = append(bufs, f.frame)
	}
	err := c.lp.t.SendBufs(bufs)
	c.s.ClearPending()
	return err
}
