package server

import (
	"cmp"
	"context"
	"net"
	"runtime"
	"sync"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server/internal/evloop"
	"github.com/wsfsm/wsfsm/wsconn"
)

// LoopOptions switch a Server to the event-loop runtime (Server.EventLoop):
// instead of a goroutine per connection, a few loops (epoll, Linux) read
// every connection, feed its wsconn.Session and hand whole messages to
// the same Handler. An idle connection then holds no goroutine, no read
// buffer and no runtime timer: see server/internal/evloop for the memory
// model.
//
// The handler gets a *wsconn.Conn as with goroutines, with these
// differences: its reading methods return wsconn.ErrEventLoop (the loop
// reads); writes never block (what the socket does not take waits in the
// connection's queue, bounded by WriteQueueLimit: past it the connection
// is closed with 1008, a slow consumer); Close sends the Close and returns,
// the loop finishing the handshake; NetConn is nil; OnMessage's data lies
// in the loop's memory, which serves other connections once the call has
// returned (valid during the call, as with goroutines). Options.Conn applies
// (message limits, close and write timeouts, keepalive, idle timeout,
// hooks), with the keepalive and timeouts of Options.Conn shared by every
// connection. The loop runs on Linux with plain TCP listeners; elsewhere,
// or with a TLS listener, Serve logs why and serves with goroutines.
type LoopOptions struct {
	// Loops is the number of event loops (0 or less: GOMAXPROCS).
	Loops int
	// Inline runs the handler on the loop: no hand-over to a worker, so
	// the fastest, but a handler that blocks (on I/O, a lock, a full
	// channel) stalls every connection of its loop. Set it only when the
	// handler never blocks. Default: handlers run on a bounded pool of
	// worker goroutines, each connection's calls in order; as with a
	// goroutine per connection, a connection's next frame is read once its
	// handler has returned.
	Inline bool
	// Workers bounds the pool's goroutines (0 or less: 256). While every
	// worker runs a handler that blocks, the calls of other connections
	// wait for one to come free: with handlers that can block on something
	// a peer controls, size it for the number of such handlers at once,
	// or use a goroutine per connection.
	Workers int
	// WriteQueueLimit bounds the bytes waiting in a connection's write
	// queue: a write that finds more is refused (ErrSlowConsumer)
	// and the connection is closed with 1008, as the hub does with a
	// subscriber that falls behind (0 or less: 4 MiB). A peer that takes
	// no byte for the write timeout is dropped (ErrWriteStalled).
	WriteQueueLimit int
}

// ErrSlowConsumer is why a loop connection whose write queue passed
// LoopOptions.WriteQueueLimit was closed (its handler's OnClose gets it),
// and what the write that found the queue full returned.
var ErrSlowConsumer = evloop.ErrSlowConsumer

// ErrWriteStalled is why a loop connection whose peer took no byte of its
// write queue for the write timeout was dropped.
var ErrWriteStalled = evloop.ErrWriteStalled

// loopServer is a Server's event-loop state.
type loopServer struct {
	g    *evloop.Group
	pool *evloop.Pool
	mu   sync.Mutex
	live int           // connections accepted and not yet over
	idle chan struct{} // closed when live reaches 0 after Shutdown
	done chan struct{} // closed when Shutdown has stopped the loops
	once sync.Once
}

// serveLoop serves ln with the event loop; ok false when it cannot (the
// reason logged), and the caller serves with goroutines.
func (s *Server) serveLoop(ln net.Listener) (err error, ok bool) {
	o := &s.Options
	if !evloop.Supported {
		o.logf("server: EventLoop needs Linux (epoll); serving with a goroutine per connection")
		return nil, false
	}
	if _, tcp := ln.(*net.TCPListener); !tcp {
		o.logf("server: EventLoop serves plain TCP listeners (not %T: TLS runs on goroutines); serving with a goroutine per connection", ln)
		return nil, false
	}
	lo := s.EventLoop
	co := o.Conn
	shared := &co
	ls := &loopServer{done: make(chan struct{})}
	sh := &evloop.Shared{
		Handler: s.Handler,
		Accept: func(req *handshake.Request) ([]byte, string, *wsconn.Options, error) {
			ag, err := handshake.Check(req, o.handshakeOptions())
			if err != nil {
				return nil, "", nil, err
			}
			resp, err := ag.AppendResponse(nil, nil)
			if ag.Deflate == nil {
				return resp, ag.Protocol, shared, err // one Options for every connection
			}
			own := o.connOptions(ag)
			return resp, ag.Protocol, &own, err
		},
		Limits:           s.Limits,
		HandshakeTimeout: cmp.Or(s.HandshakeTimeout, DefaultHandshakeTimeout),
		IdleTimeout:      co.IdleTimeout,
		PingInterval:     co.PingInterval,
		PingTimeout:      co.PingTimeout,
		CloseTimeout:     co.CloseTimeout,
		WriteTimeout:     cmp.Or(co.WriteTimeout, wsconn.DefaultWriteTimeout),
		QueueLimit:       positive(lo.WriteQueueLimit, 4<<20),
		OnPing:           co.OnPing,
		OnPong:           co.OnPong,
		OnClose:          co.OnClose,
		Logf:             o.logf,
		Done:             func(*evloop.Conn) { ls.over(s) },
	}
	if sh.HandshakeTimeout < 0 {
		sh.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if sh.CloseTimeout <= 0 {
		sh.CloseTimeout = wsconn.DefaultCloseTimeout // as wsconn.Options says
	}
	if !lo.Inline {
		ls.pool = evloop.NewPool(positive(lo.Workers, 256))
		sh.Pool = ls.pool
	}
	g, err := evloop.Listen(ln, positive(lo.Loops, runtime.GOMAXPROCS(0)), sh)
	if err != nil {
		o.logf("server: EventLoop: %v; serving with a goroutine per connection", err)
		return nil, false
	}
	g.Busy = []byte(busyResponse)
	g.Accepted = func() bool { return ls.accepted(s) }
	ls.g = g
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		g.Stop()
		ln.Close()
		return ErrServerClosed, true
	}
	s.ln, s.loop = ln, ls
	g.Start() // under mu: Shutdown, which takes it to find s.loop, stops started loops only
	s.mu.Unlock()
	<-ls.done
	return ErrServerClosed, true
}

const busyResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"

// accepted counts a new connection; false when it is over MaxConns (or
// the server is shutting down) and gets 503.
func (ls *loopServer) accepted(s *Server) bool {
	ls.mu.Lock()
	ls.live++
	ls.mu.Unlock()
	n := s.open.Add(1)
	if s.MaxConns > 0 && n > int64(s.MaxConns) {
		s.Options.logf("server: over MaxConns, refused")
		return false
	}
	return !s.shutdown.Load()
}

// over counts a connection out (its OnClose has returned).
func (ls *loopServer) over(s *Server) {
	s.open.Add(-1)
	ls.mu.Lock()
	ls.live--
	if ls.live == 0 && ls.idle != nil {
		close(ls.idle)
		ls.idle = nil
	}
	ls.mu.Unlock()
}

// shutdown sends 1001 to every connection of every loop and waits for
// them to be over, or for ctx (then it drops what is left).
func (ls *loopServer) shutdown(ctx context.Context) error {
	ls.mu.Lock()
	idle := make(chan struct{})
	if ls.live == 0 {
		close(idle)
	} else {
		ls.idle = idle
	}
	ls.mu.Unlock()
	ls.g.StopAccepting()
	select {
	case <-idle:
	case <-ctx.Done():
		ls.g.DropAll()
		// The loops end once the dropped connections' sockets are closed;
		// handlers still running finish on their own.
		go ls.stop(false)
		return ctx.Err()
	}
	ls.stop(true)
	return nil
}

func (ls *loopServer) stop(closePool bool) {
	ls.once.Do(func() {
		ls.g.Stop()
		if closePool && ls.pool != nil {
			ls.pool.Close()
		}
		close(ls.done)
	})
}

// positive is v, or def when v is 0 or less.
func positive(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
