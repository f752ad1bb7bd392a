// Package loophook connects wsconn to an event-loop runtime (the server's
// epoll loop) without widening wsconn's public API: wsconn's init sets
// NewConn, and the loop calls it to get a *wsconn.Conn whose writes go to
// the loop's non-blocking Transport and whose input the loop feeds to the
// connection's Session itself.
//
// The values cross as any because this package cannot name wsconn's types
// (wsconn imports it); the loop asserts them once per connection.
package loophook

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Transport is the loop's side of one connection, as a loop-mode Conn
// sees it. Every method is safe from any goroutine and never blocks.
type Transport interface {
	// Send queues bufs, in order, as the next bytes of the connection:
	// what the socket takes now is written, the rest waits in the
	// connection's bounded queue and goes out as the peer reads. It fails
	// once the connection is broken or its queue is over the bound (the
	// slow-consumer policy: the loop then closes it).
	// head and tail are a frame's header and its payload where it lies
	// (tail may be nil): two slices, so that a send allocates nothing.
	Send(head, tail []byte) error
	// SendBufs is Send for several frames (prepared messages).
	SendBufs(bufs [][]byte) error
	// SendFinal is Send for this end's Close frame (with the replies
	// before it): it is queued whatever the bound, being the last.
	SendFinal(b []byte) error
	// CloseSent says this end has queued its Close frame: the loop gives
	// the peer the close timeout to answer, then closes.
	CloseSent()
	// CloseNow drops the connection without a handshake.
	CloseNow()
	// LastActivity is when input last arrived.
	LastActivity() time.Time
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// Side is what the loop sees of a loop-mode Conn.
type Side interface {
	// Lock and Unlock guard the Session, which the loop reads with and
	// writers write with.
	Lock()
	Unlock()
	// Session returns the connection's Session (a *wsconn.Session),
	// taken from a pool if the connection was resting; Rest gives it back
	// when the connection is at rest (between frames, nothing in
	// progress). Both with the lock held; the Session is valid until Rest
	// or Unlock.
	Session() any
	Rest()
	// Release gives back what reading holds (an inflater), when the
	// connection's reading is over. With the lock held.
	Release()
	// Pong notes a Pong read by the loop (for Conn.Ping waiters).
	Pong(p []byte)
	// End marks the connection ended: Done closes, writes fail.
	End()
}

// Config is what a loop-mode Conn is made of. Options is a
// *wsconn.Options, which the Conn keeps (connections may share one).
type Config struct {
	Transport Transport
	Protocol  string
	Options   any
}

// NewConn makes a loop-mode connection and returns it (a *wsconn.Conn)
// and its Side. Set by wsconn's init.
var NewConn func(Config) (conn any, side Side)

// ErrLoopReads is returned by a loop-mode Conn's reading methods: the loop
// reads the connection and hands messages to the handler.
var ErrLoopReads = errors.New("wsconn: this connection is read by the server's event loop (its handler gets the messages)")

var _ sync.Locker = Side(nil)
