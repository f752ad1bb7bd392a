package server

import (
	"bufio"
	"cmp"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// acceptRaw reads the opening handshake from nc's raw bytes within the
// handshake timeout and answers it. It returns the connection, or nil after
// answering a rejection.
func (s *Server) acceptRaw(nc net.Conn) *wsconn.Conn {
	o := &s.Options
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	r := handshake.NewRequestReader(s.Limits)
	// A heap buffer from a pool, not an array on the stack: a stack grown
	// for the handshake would stay grown for the connection's life.
	bp := headBufPool.Get().(*[]byte)
	defer headBufPool.Put(bp)
	buf := *bp
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			rest, done, ferr := r.Feed(buf[:n])
			if ferr != nil {
				nc.Write(handshake.AppendRejection(nil, ferr))
				return nil
			}
			if done {
				return answer(nc, r.Request(), rest, o)
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				nc.Write(handshake.AppendRejection(nil, errHandshakeTimeout))
			}
			return nil
		}
	}
}

var headBufPool = sync.Pool{New: func() any { b := make([]byte, 2048); return &b }}

var errHandshakeTimeout = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string { return "websocket handshake: request head not received in time" }
func (*timeoutError) Status() int   { return http.StatusRequestTimeout }

func answer(nc net.Conn, req *handshake.Request, rest []byte, o *Options) *wsconn.Conn {
	up, err := handshake.Check(req, o.handshakeOptions())
	if err != nil {
		nc.Write(handshake.AppendRejection(nil, err))
		return nil
	}
	resp, err := up.AppendResponse(nil, nil)
	if err != nil {
		return nil
	}
	if _, err := nc.Write(resp); err != nil {
		return nil
	}
	nc.SetDeadline(time.Time{})
	return wsconn.NewConn(nc, wsframe.RoleServer, up.Protocol, rest, o.connOptions(up))
}

func rejectBusy(nc net.Conn, o *Options) {
	nc.SetDeadline(time.Now().Add(time.Second))
	nc.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"))
	o.logf("server: %v: over MaxConns, refused", nc.RemoteAddr())
}

// Upgrade answers a WebSocket handshake inside a net/http handler: it runs
// the same checks as the raw server (handshake.Check on the request),
// answers rejections itself, hijacks the connection and returns it. The
// caller then reads it, or hands it to ServeConn. Header fields the handler set
// on w before the call (Set-Cookie, say) go out with the answer. Every
// field of o applies: keepalive and the idle timeout (o.Conn) run from here
// on, for as long as the connection lives (something must read it for
// pongs and input to count).
//
// An HTTP/2 request is an RFC 8441 extended CONNECT (handshake.CheckConnect,
// answered with a 200): the connection is then a stream of the HTTP/2
// connection, which lives only while the handler runs. The handler must
// not return before the connection has ended: ServeConn blocks until then, and
// a handler that reads the connection itself ends with Wait(c). See the
// package documentation for enabling it (GODEBUG=http2xconnect=1).
func Upgrade(w http.ResponseWriter, r *http.Request, o *Options) (*wsconn.Conn, error) {
	if o == nil {
		o = &Options{}
	}
	if r.ProtoMajor == 2 {
		return upgradeHTTP2(w, r, o)
	}
	up, err := handshake.Check(handshake.FromHTTP(r), o.handshakeOptions())
	if err != nil {
		refuse(w, err)
		return nil, err
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		err := errors.New("server: the ResponseWriter cannot be hijacked (HTTP/2?)")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	resp, err := up.AppendResponse(nil, responseFields(w.Header()))
	if err == nil {
		// The 101 goes out within the write timeout, like every frame.
		if wt := o.Conn.WriteTimeout; wt >= 0 {
			nc.SetWriteDeadline(time.Now().Add(cmp.Or(wt, wsconn.DefaultWriteTimeout)))
		}
		_, err = nc.Write(resp)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c := wsconn.NewConn(nc, wsframe.RoleServer, up.Protocol, buffered(brw.Reader), o.connOptions(up))
	return c, nil
}

// responseFields are the header fields the handler set on w before
// Upgrade (Set-Cookie and friends), for the 101, in name order; the
// handshake's own fields are the handshake's to write.
func responseFields(h http.Header) handshake.Header {
	var out handshake.Header
	for _, name := range slices.Sorted(maps.Keys(h)) {
		switch http.CanonicalHeaderKey(name) {
		case "Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Content-Length", "Transfer-Encoding":
			continue
		}
		for _, v := range h[name] {
			out = append(out, handshake.Field{Name: name, Value: v})
		}
	}
	return out
}

// buffered returns what net/http read past the request head.
func buffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}

// ServeConn runs an upgraded connection with h until it ends: OnOpen, the read
// loop (OnMessage), OnClose. For Upgrade's callers who want the server's
// read loop; keepalive already runs from Upgrade. For a connection over
// HTTP/2 it returns once the stream is finished (Wait), so the handler
// that calls it may return right after.
func ServeConn(c *wsconn.Conn, h Handler) {
	run(c, h)
	Wait(c)
}
