package wsconn

import (
	"errors"
	"sync"
	"time"

	"github.com/wsfsm/wsfsm/wsconn/internal/deflate"

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
//
// With permessage-deflate, a connection whose compressor starts every
// message empty (server_no_context_takeover) gets the message compressed
// once per window size and shared with every such connection; one that
// takes context over compresses it with its own context, as WriteMessage
// does (that is what makes its ratio).
type PreparedMessage struct {
	op    wsframe.Opcode
	frame []byte // the unmasked frame: header, then payload
	n     int    // payload length: the payload is frame[len(frame)-n:]

	mu       sync.Mutex
	deflated map[int]rawFrame // by window bits: the compressed frame (RSV1)
}

// rawFrame is a whole unmasked frame and the length of its payload.
type rawFrame struct {
	op    wsframe.Opcode
	frame []byte
	n     int
}

// compressedFor returns the message as one compressed frame for
// connections whose compressor starts every message empty with a window of
// 2^bits bytes: compressed by the first such connection, shared by the
// rest.
func (pm *PreparedMessage) compressedFor(bits int) (rawFrame, error) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if f, ok := pm.deflated[bits]; ok {
		return f, nil
	}
	comp, err := deflate.NewCompressor(deflate.Config{NoContextTakeover: true, WindowBits: bits})
	if err != nil {
		return rawFrame{}, err
	}
	z, err := comp.Compress(nil, pm.Payload())
	if err != nil {
		return rawFrame{}, err
	}
	h := wsframe.Header{Fin: true, Rsv: wsframe.RSV1, Opcode: pm.op, Length: int64(len(z))}
	f := rawFrame{op: pm.op, frame: wsframe.AppendFrame(make([]byte, 0, wsframe.HeaderSize(h)+len(z)), h, z), n: len(z)}
	if pm.deflated == nil {
		pm.deflated = map[int]rawFrame{}
	}
	pm.deflated[bits] = f
	return f, nil
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
	if c.lp != nil && c.opts.Deflate == nil {
		var small [32]rawFrame
		frames := small[:0]
		for _, pm := range pms {
			frames = append(frames, rawFrame{op: pm.op, frame: pm.frame, n: pm.n})
		}
		return c.loopRawFrames(frames)
	}
	bits, threshold, shared := c.s.sharedCompression()
	if c.s.Role() != wsframe.RoleServer || (c.s.Compressing() && !shared) {
		// A client masks every frame with its own key; a compressor that
		// takes context over compresses with this connection's context.
		for _, pm := range pms {
			if err := c.WriteMessage(pm.op, pm.Payload()); err != nil {
				return err
			}
		}
		return nil
	}
	// Compressed outside the write lock (the first connection of a
	// window size pays for it, the rest share it).
	var small [32]rawFrame
	frames := small[:0]
	for _, pm := range pms {
		f := rawFrame{op: pm.op, frame: pm.frame, n: pm.n}
		if shared && pm.n >= threshold {
			var err error
			if f, err = pm.compressedFor(bits); err != nil {
				return err
			}
		}
		frames = append(frames, f)
	}
	if c.lp != nil {
		return c.loopRawFrames(frames)
	}
	if err := c.lockMessage(nil); err != nil {
		return err
	}
	defer func() { <-c.msgLock }()
	return c.writeRawFrames(frames)
}

// writeRawFrames writes the prepared (unmasked, whole) frames as the next
// frames on the wire: under the write lock and the write deadline, after
// the session's checks and after any reply the session has queued, all in
// one writev. It is the one place that writes bytes not framed by the
// session.
func (c *Conn) writeRawFrames(frames []rawFrame) error {
	if err := c.lockWrite(nil); err != nil {
		return err
	}
	defer c.unlockWrite()
	if c.writeErr != nil {
		return c.writeErr
	}
	c.mu.Lock()
	var err error
	for _, f := range frames {
		if err = c.s.checkSend(f.op, true, f.n); err != nil {
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
	for _, f := range frames {
		c.frames = append(c.frames, f.frame)
	}
	err = c.writeLocked(time.Time{}, c.frames...)
	clear(c.frames)
	return err
}
