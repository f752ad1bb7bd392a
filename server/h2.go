package server

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// WebSockets over HTTP/2 (RFC 8441). A browser that sees
// SETTINGS_ENABLE_CONNECT_PROTOCOL on an HTTP/2 connection opens its
// WebSockets as streams of that connection: an extended CONNECT whose
// request body carries the client's frames and whose response body carries
// the server's. Upgrade answers it with a 200 and runs the same session
// over the stream, through h2Stream, a net.Conn made of the two bodies.
//
// net/http's HTTP/2 server keeps a stream only while its handler runs: the
// handler that upgraded must not return before the connection has ended
// (ServeConn and Wait block until then), and nothing may touch the
// ResponseWriter afterwards. h2Stream enforces the second half: once it is
// finished (closed, or its write side ended), no write, flush or deadline
// reaches net/http again, and Wait returns only then.

// upgradeHTTP2 is Upgrade for an HTTP/2 request.
func upgradeHTTP2(w http.ResponseWriter, r *http.Request, o *Options) (*wsconn.Conn, error) {
	up, err := handshake.CheckConnect(handshake.FromHTTP(r), o.handshakeOptions())
	if err != nil {
		refuse(w, err)
		return nil, err
	}
	s := newH2Stream(w, r)
	// The server's ReadTimeout and WriteTimeout were meant for a request,
	// not for a connection that lives for hours: the stream has its own
	// deadlines from here on, like a hijacked connection.
	if err := s.rc.SetReadDeadline(time.Time{}); err != nil {
		return nil, s.failOpen(err)
	}
	if err := s.rc.SetWriteDeadline(time.Time{}); err != nil {
		return nil, s.failOpen(err)
	}
	if err := s.rc.EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, s.failOpen(err)
	}
	for _, f := range up.ResponseFields() {
		w.Header().Set(f.Name, f.Value)
	}
	// The 200 goes out within the write timeout, like every frame.
	if wt := o.Conn.WriteTimeout; wt >= 0 {
		s.SetWriteDeadline(time.Now().Add(cmp.Or(wt, wsconn.DefaultWriteTimeout)))
	}
	if err := s.open(); err != nil {
		return nil, s.failOpen(err)
	}
	s.SetWriteDeadline(time.Time{})
	c := wsconn.NewConn(s, wsframe.RoleServer, up.Protocol, nil, o.connOptions(up))
	return c, nil
}

// refuse answers a handshake that failed a rule with the status it carries.
func refuse(w http.ResponseWriter, err error) {
	var he *handshake.Error
	status := http.StatusBadRequest
	if errors.As(err, &he) && he.Status() != 0 {
		status = he.Status()
	}
	if status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, err.Error(), status)
}

// Wait blocks until c has ended and, for a connection over HTTP/2, until
// its stream is finished, so that the handler that upgraded can return.
// On HTTP/2 the stream lives only as long as the handler: a handler that
// reads the connection itself (ReadMessage in a loop) ends with Wait(c);
// one that calls ServeConn need not, ServeConn waits. Wait does not end c itself:
// a handler that stops reading should Close it first. For a hijacked
// HTTP/1.1 connection it returns once the read side has ended.
func Wait(c *wsconn.Conn) {
	if s, ok := c.NetConn().(*h2Stream); ok {
		s.wait()
		return
	}
	<-c.Done()
}

// ErrHTTP2 is wrapped by the errors of operations an HTTP/2 stream cannot
// do as a TCP connection does: resuming a read after its deadline passed
// (net/http ends the request body for good), writing after the stream
// was finished.
var ErrHTTP2 = errors.New("server: not possible on an HTTP/2 stream")

var (
	errReadDeadline = &streamError{msg: "a read deadline passed, which ends the request body for good (net/http cannot resume it): the WebSocket is over", cause: os.ErrDeadlineExceeded}
	errFinished     = &streamError{msg: "the stream is finished: nothing more can be written", cause: net.ErrClosed}
)

// streamError is an HTTP/2 limitation, reported as such: not a timeout,
// so that wsconn ends the connection at once.
type streamError struct {
	msg   string
	cause error
}

func (e *streamError) Error() string   { return ErrHTTP2.Error() + ": " + e.msg }
func (e *streamError) Unwrap() []error { return []error{ErrHTTP2, e.cause} }
func (e *streamError) Timeout() bool   { return false }
func (e *streamError) Temporary() bool { return false }

// streamEnded is how a stream's end reaches wsconn: like the end of a TCP
// connection (io.EOF, hence a 1006 when no Close came), with net/http's
// reason kept: the peer's END_STREAM, a RST_STREAM, the connection lost.
type streamEnded struct{ cause error }

func (e *streamEnded) Error() string        { return "HTTP/2 stream ended: " + e.cause.Error() }
func (e *streamEnded) Unwrap() error        { return e.cause }
func (e *streamEnded) Is(target error) bool { return target == io.EOF }

// h2Stream is an HTTP/2 stream as a net.Conn: Read reads the request body,
// Write writes the response body and flushes, so that each frame goes out
// in DATA frames at once. What differs from TCP:
//
//   - A read deadline that passes ends the request body for good: the Read
//     returns an error wrapping ErrHTTP2 and os.ErrDeadlineExceeded that
//     is not a timeout, so the WebSocket ends rather than waiting to be
//     read again.
//   - A write deadline that passes resets the stream (RST_STREAM), which
//     is what a broken write means on TCP too.
//   - CloseWrite ends the response (END_STREAM once the handler returns);
//     net/http then stops the request body as well (RST_STREAM NO_ERROR,
//     RFC 9113 §8.1), so it is a close, not a half-close.
//   - Close finishes the stream: the handler may return (Wait).
type h2Stream struct {
	body          io.ReadCloser
	w             http.ResponseWriter
	rc            *http.ResponseController
	ctx           context.Context // the request's: done once the stream is gone
	local, remote net.Addr

	readExpired atomic.Bool

	wmu sync.Mutex // held by Write; finish takes it so no write is left
	// mu guards alive, the write timer and every call into net/http that
	// is not a write: after finish, none happens.
	mu       sync.Mutex
	alive    bool
	wtimer   *time.Timer
	wexpired bool

	closeOnce, finishOnce sync.Once
	finished              chan struct{}
}

func newH2Stream(w http.ResponseWriter, r *http.Request) *h2Stream {
	s := &h2Stream{
		body: r.Body, w: w, rc: http.NewResponseController(w), ctx: r.Context(),
		alive: true, finished: make(chan struct{}),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	} else {
		s.local = stringAddr("")
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		s.remote = net.TCPAddrFromAddrPort(ap)
	} else {
		s.remote = stringAddr(r.RemoteAddr)
	}
	return s
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// open sends the 200.
func (s *h2Stream) open() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.isAlive() {
		return errFinished
	}
	s.w.WriteHeader(http.StatusOK)
	return s.flushed(s.rc.Flush())
}

// failOpen ends a stream whose 200 could not be sent.
func (s *h2Stream) failOpen(err error) error {
	s.Close()
	return err
}

func (s *h2Stream) isAlive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alive
}

func (s *h2Stream) Read(p []byte) (int, error) {
	if s.readExpired.Load() {
		return 0, errReadDeadline
	}
	n, err := s.body.Read(p)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.readExpired.Store(true)
			return n, errReadDeadline
		}
		err = &streamEnded{err}
	}
	return n, err
}

func (s *h2Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.isAlive() {
		return 0, errFinished
	}
	if err := s.ctx.Err(); err != nil {
		return 0, &streamEnded{err}
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, s.flushed(err)
}

// flushed turns a write error into what it means: a timeout when the
// write deadline reset the stream, the stream's end otherwise.
func (s *h2Stream) flushed(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	expired := s.wexpired
	s.mu.Unlock()
	if expired {
		return os.ErrDeadlineExceeded
	}
	return &streamEnded{err}
}

func (s *h2Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline is the request body's deadline (http.ResponseController):
// once it passes, the body is over (see h2Stream).
func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.alive {
		return nil // nothing reads a finished stream for long
	}
	return s.rc.SetReadDeadline(t)
}

// SetWriteDeadline arms a timer of the stream's own, which resets the
// stream when it fires: wsconn sets a deadline before every frame, and
// asking net/http's serve loop each time would cost a message to it per
// frame.
func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.alive || s.wexpired {
		return nil
	}
	if s.wtimer != nil {
		s.wtimer.Stop()
	}
	switch {
	case t.IsZero():
	case !t.After(time.Now()):
		s.expireLocked()
	default:
		if s.wtimer == nil {
			s.wtimer = time.AfterFunc(time.Until(t), s.expire)
		} else {
			s.wtimer.Reset(time.Until(t))
		}
	}
	return nil
}

func (s *h2Stream) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alive && !s.wexpired {
		s.expireLocked()
	}
}

// expireLocked resets the stream, which unblocks a write waiting for flow
// control: a deadline in the past makes net/http send RST_STREAM at once.
func (s *h2Stream) expireLocked() {
	s.wexpired = true
	s.rc.SetWriteDeadline(time.Unix(1, 0))
}

// CloseWrite ends the response: the stream is finished and the handler
// may return, which sends END_STREAM after what was written. See h2Stream.
func (s *h2Stream) CloseWrite() error {
	s.finish()
	return nil
}

// Close finishes the stream and ends the request body.
func (s *h2Stream) Close() error {
	s.closeOnce.Do(func() {
		s.body.Close() // a blocked Read returns
		s.finish()
	})
	return nil
}

// finish makes sure no write is under way nor will start, then lets Wait
// return. A write blocked on flow control is freed by resetting the
// stream: only a peer that stopped reading leaves one behind.
func (s *h2Stream) finish() {
	s.finishOnce.Do(func() {
		if !s.wmu.TryLock() {
			s.expire()
			s.wmu.Lock()
		}
		s.mu.Lock()
		s.alive = false
		if s.wtimer != nil {
			s.wtimer.Stop()
		}
		s.mu.Unlock()
		s.wmu.Unlock()
		close(s.finished)
	})
}

// wait blocks until the stream is finished; when net/http ends the stream
// first (the connection is lost, the client reset it), it finishes it.
func (s *h2Stream) wait() {
	select {
	case <-s.finished:
	case <-s.ctx.Done():
		s.Close()
	}
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }
