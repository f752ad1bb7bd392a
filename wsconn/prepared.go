package wsconn

import (
	"errors"
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// PreparedMessage is a whole data message framed once, to be written as the
// same bytes to many connections: a broadcast frames its message once
// instead of once per subscriber. It is immutable and safe to share between
// goroutines and connections.
//
// A server-role Conn writes the prepared frame as it is (server frames are
// not masked, RFC 6455 §5.1). A client-role Conn cannot: every frame a
// client sends must be masked with a fresh, unpredictable key (RFC 6455
// §5.3), so it writes the payload as WriteMessage would, masking a copy for
// this connection; the message is then only prepared in the sense that its
// payload is shared.
type PreparedMessage struct {
	op    wsframe.Opcode
	frame []byte // the unmasked frame: header, then payload
	n     int    // payload length: the payload is frame[len(frame)-n:]
}

// ErrNotData is returned for a prepared message that is not OpText or
// OpBinary.
var ErrNotData = errors.New("wsconn: a prepared message is a text or binary message")

// NewPreparedMessage frames data as one unfragmented message (op is OpText
// or OpBinary). data is copied: the caller may reuse it.
func NewPreparedMessage(op wsframe.Opcode, data []byte) (*PreparedMessage, error) {
	if op != wsframe.OpText && op != wsframe.OpBinary {
		return nil, ErrNotData
	}
	h := wsframe.Header{Fin: true, Opcode: op, Length: int64(len(data))}
	frame := wsframe.AppendFrame(make([]byte, 0, wsframe.HeaderSize(h)+len(data)), h, data)
	return &PreparedMessage{op: op, frame: frame, n: len(data)}, nil
}

// Opcode is the message's opcode.
func (pm *PreparedMessage) Opcode() wsframe.Opcode { return pm.op }

// Payload is the message's payload. It must not be modified.
func (pm *PreparedMessage) Payload() []byte { return pm.frame[len(pm.frame)-pm.n:] }

// Len is the number of bytes a server writes for the message (header and
// payload).
func (pm *PreparedMessage) Len() int { return len(pm.frame) }

// WritePrepared sends the prepared messages, each as one whole message, in
// the order and under the rules of WriteMessage (it waits for a message
// being streamed with NextWriter to end; after this end's Close it returns
// ErrClosed). Several messages go out in one write (writev): a broadcast
// that has fallen a few messages behind catches up in one system call. See
// PreparedMessage for what a client-role Conn does.
func (c *Conn) WritePrepared(pms ...*PreparedMessage) error {
	if c.s.Role() != wsframe.RoleServer {
		for _, pm := range pms {
			if err := c.WriteMessage(pm.op, pm.Payload()); err != nil {
				return err
			}
		}
		return nil
	}
	c.msgLock <- struct{}{}
	defer func() { <-c.msgLock }()
	return c.writeRawFrames(pms)
}

// writeRawFrames writes the prepared (unmasked, whole) frames as the next
// frames on the wire: under the write lock and the write deadline, after
// the session's checks and after any reply the session has queued, all in
// one writev. It is the one place that writes bytes not framed by the
// session.
func (c *Conn) writeRawFrames(pms []*PreparedMessage) error {
	if err := c.lockWrite(nil); err != nil {
		return err
	}
	defer c.unlockWrite()
	if c.writeErr != nil {
		return c.writeErr
	}
	c.mu.Lock()
	var err error
	for _, pm := range pms {
		if err = c.s.checkSend(pm.op, true, pm.n); err != nil {
			break
		}
	}
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	c.mu.Unlock()
	if err != nil {
		if len(c.wbuf) > 0 { // the frames were refused; the replies still go
			c.writeLocked(time.Time{}, c.wbuf)
		}
		return err
	}
	c.frames = c.frames[:0]
	if len(c.wbuf) > 0 {
		c.frames = append(c.frames, c.wbuf)
	}
	for _, pm := range pms {
		c.frames = append(c.frames, pm.frame)
	}
	err = c.writeLocked(time.Time{}, c.frames...)
	clear(c.frames)
	return err
}
