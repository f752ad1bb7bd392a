package wsconn

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn/internal/deflate"
	"github.com/wsfsm/wsfsm/wsframe"
)

// DefaultMaxMessageSize is the message limit when SessionConfig (or
// Options) sets none.
const DefaultMaxMessageSize = 16 << 20

// SessionConfig configures a Session.
type SessionConfig struct {
	// Role is this endpoint's role: a server reads masked frames and
	// writes unmasked ones; a client the reverse.
	Role wsframe.Role
	// MaxMessageSize bounds a message, all fragments together; larger fails
	// with 1009 as soon as a frame header announces it. 0: 16 MiB.
	MaxMessageSize int64
	// MaxFragments, when positive, bounds the frames of one message (fail
	// 1009). 0: no bound. A fragment costs no memory of its own (only its
	// bytes count, against MaxMessageSize) and a few tens of nanoseconds of
	// CPU, like any other frame, so the default accepts what peers
	// legitimately send: a 4 MiB message in 64-byte fragments is 65,537
	// frames.
	MaxFragments int
	// Deflate is the permessage-deflate agreement of the handshake (RFC
	// 7692), nil when the extension is off. With it, a data message whose
	// first frame has RSV1 is inflated (MaxMessageSize bounds the inflated
	// size), and Compress/AppendCompressed send compressed messages.
	Deflate *handshake.DeflateParams
	// CompressThreshold: Compress leaves messages shorter than this
	// uncompressed. 0: DefaultCompressThreshold (or
	// DefaultCompressThresholdNoTakeover when this end's compressor resets
	// per message); negative: compress every message.
	CompressThreshold int
}

// Default size thresholds below which messages go uncompressed. Measured on
// small JSON (wsconn/internal/deflate, TestCompareTable): with context
// takeover even 30-byte messages shrink by more than half, so only the
// tiniest are sent as they are; without it messages under ~200 bytes save
// under 10 % of their wire bytes for several microseconds of CPU each.
const (
	DefaultCompressThreshold           = 32
	DefaultCompressThresholdNoTakeover = 256
)

// EventKind says what an Event carries.
type EventKind uint8

const (
	// EventNone: the input is used up.
	EventNone EventKind = iota
	// EventData: a piece of a text or binary message.
	EventData
	// EventPing: the peer pinged; a Pong with the same payload is queued.
	EventPing
	// EventPong: the peer ponged (solicited or not).
	EventPong
	// EventClose: the peer closed; a Close reply is queued unless this end
	// closed first. Nothing more will be read.
	EventClose
)

// Event is what Next found. Next returns a pointer to the session's own
// Event, valid until the next call.
type Event struct {
	Kind EventKind
	// Opcode of the message (OpText or OpBinary) for EventData.
	Opcode wsframe.Opcode
	// Data is the message piece or control payload. Message pieces alias
	// the input; control payloads alias the input when they arrived in
	// one piece, the session's buffer when they were split.
	Data []byte
	// Start and End mark the first and the last piece of a message.
	Start, End bool
	// Code and Reason of a Close (Code is CloseNoStatus for an empty one).
	Code   wsframe.CloseCode
	Reason []byte
}

// ErrClosed is returned when sending after this end sent its Close.
var ErrClosed = errors.New("wsconn: close already sent")

// Session is the connection's protocol state. Use NewSession.
type Session struct {
	cfg    SessionConfig
	parser wsframe.Parser
	ev     Event

	// reading
	hdr     *wsframe.Header // header of the frame being read
	msgSize int64
	ctrl    *[wsframe.MaxControlPayload]byte // a split control payload, made on first need

	// permessage-deflate, nil without the extension
	*deflateState

	// writing
	rng     *rand.ChaCha8
	pending []byte // automatic replies: a Pong, the Close reply
	err     error
	base    int64 // stream bytes before this session's first (a loop connection's earlier sessions)

	// The small fields together: a connection holds a Session for its
	// whole life (see the memory model in server/internal/evloop).
	fragments     int32
	lastPong      int32          // where the last queued Pong starts
	msgOpcode     wsframe.Opcode // message in progress, 0 when none
	msgStarted    bool           // a piece of the current message was delivered
	utf8          wsframe.UTF8Validator
	ctrlLen       uint8
	compressed    bool  // the message being read has RSV1 (RFC 7692 §6)
	sending       bool  // a fragmented message is being sent
	pongs         uint8 // Pongs in pending (they come before any Close)
	closeSent     bool
	closeReceived bool
}

// deflateState is a session's permessage-deflate state, allocated only
// with the extension: an idle connection without it carries one nil
// pointer.
type deflateState struct {
	inflater  *deflate.Decompressor
	deflater  *deflate.Compressor
	sendNoCtx bool   // the compressor starts every message empty
	sendBits  int    // its window: 2^sendBits bytes
	inflated  []byte // the current event's inflated bytes
	zbuf      []byte // a compressed message being framed
	threshold int
}

// NewSession returns a session for a freshly opened connection.
func NewSession(c SessionConfig) *Session {
	s := new(Session)
	s.init(c)
	return s
}

// init readies a zero Session (one allocated with its connection).
func (s *Session) init(c SessionConfig) {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	s.cfg = c
	pc := wsframe.Config{Role: c.Role, MaxPayload: c.MaxMessageSize}
	if c.Deflate != nil {
		s.setupDeflate(*c.Deflate)
		// RFC 7692 §6: RSV1 marks a compressed message. The parser allows
		// it on data frames; the session refuses it on continuations.
		pc.AllowedRSV = wsframe.RSV1
		pc.MaxPayload = compressedLimit(c.MaxMessageSize)
	}
	s.parser.Reset(pc)
	if c.Role == wsframe.RoleClient {
		// RFC 6455 §5.3: masking keys must be unpredictable. ChaCha8 seeded
		// from crypto/rand is a CSPRNG that costs a few ns per key.
		var seed [32]byte
		crand.Read(seed[:])
		s.rng = rand.NewChaCha8(seed)
	}
}

// Next reads from data and returns the next event and how many bytes it
// consumed; call again with data[n:] until EventNone. Message payload is
// unmasked in place in data. After a protocol error Next returns the error
// (a *wsframe.Error with its close code) and a Close frame with that code is
// in Pending; the connection must then be closed.
func (s *Session) Next(data []byte) (*Event, int, error) {
	ev := &s.ev
	// The last event's slices point into the last input (a read buffer that
	// may go back to a pool): forget them.
	*ev = Event{}
	if s.err != nil {
		return ev, 0, s.err
	}
	if s.closeReceived {
		return ev, len(data), nil // RFC 6455 §5.5.1: nothing follows a Close
	}
	total := 0
	for {
		pev, n, err := s.parser.Next(data[total:])
		total += n
		if err != nil {
			return ev, total, s.fail(s.rebase(err))
		}
		switch pev.Kind {
		case wsframe.TokenNone:
			return ev, total, nil
		case wsframe.TokenHeader:
			if err := s.header(pev.Header); err != nil {
				return ev, total, s.fail(err)
			}
		case wsframe.TokenPayload:
			if s.hdr.Opcode.IsControl() {
				p := pev.Payload
				if !pev.End || s.ctrlLen > 0 {
					// Split across inputs: gathered in the session's buffer.
					if s.ctrl == nil {
						s.ctrl = new([wsframe.MaxControlPayload]byte)
					}
					s.ctrlLen += uint8(copy(s.ctrl[s.ctrlLen:], p))
					p = s.ctrl[:s.ctrlLen]
				}
				if pev.End {
					if err := s.control(p); err != nil {
						return ev, total, s.fail(err)
					}
					return ev, total, nil
				}
				continue
			}
			if err := s.data(pev.Payload, pev.End); err != nil {
				return ev, total, s.fail(err)
			}
			if ev.Kind == EventData {
				return ev, total, nil
			}
		}
	}
}

func (s *Session) ruleErr(r wsframe.Rule) error {
	return &wsframe.Error{Rule: r, Offset: s.base + s.parser.Offset()}
}

// rebase gives a parser error the stream offset of the connection (which
// may have had earlier sessions).
func (s *Session) rebase(err error) error {
	if we, ok := err.(*wsframe.Error); ok && s.base != 0 {
		e := *we
		e.Offset += s.base
		return &e
	}
	return err
}

// atRest reports whether nothing is in progress: between frames, no
// message being read or sent, nothing pending, not closing, no
// compression state. A fresh session with the same offset and limits
// would go on exactly as this one.
func (s *Session) atRest() bool {
	return s.deflateState == nil && s.rng == nil && !s.closeSent && !s.closeReceived && s.err == nil &&
		!s.sending && len(s.pending) == 0 && s.msgOpcode == 0 && s.parser.AtFrameBoundary()
}

// recycle empties a session at rest for reuse, keeping its buffers.
func (s *Session) recycle() {
	pending, ctrl := s.pending[:0], s.ctrl
	if cap(pending) > 1<<10 {
		pending = nil
	}
	*s = Session{}
	s.pending, s.ctrl = pending, ctrl
}

// header applies the message rules to a frame header (RFC 6455 §5.4).
func (s *Session) header(h *wsframe.Header) error {
	s.hdr = h
	if h.Opcode.IsControl() {
		s.ctrlLen = 0
		return nil
	}
	switch {
	case h.Opcode == wsframe.OpContinuation && s.msgOpcode == 0:
		return s.ruleErr(wsframe.ErrUnexpectedContinuation)
	case h.Opcode != wsframe.OpContinuation && s.msgOpcode != 0:
		return s.ruleErr(wsframe.ErrMessageInProgress)
	case h.Opcode == wsframe.OpContinuation && h.Rsv&wsframe.RSV1 != 0:
		// RFC 7692 §6.1: RSV1 is set on the first frame of a compressed
		// message only.
		return s.ruleErr(wsframe.ErrReservedBits)
	case h.Opcode != wsframe.OpContinuation:
		s.msgOpcode, s.msgSize, s.fragments, s.msgStarted = h.Opcode, 0, 0, false
		s.compressed = h.Rsv&wsframe.RSV1 != 0
		s.utf8.Reset()
	}
	if s.fragments < math.MaxInt32 {
		s.fragments++
	}
	if s.cfg.MaxFragments > 0 && int(s.fragments) > s.cfg.MaxFragments {
		return s.ruleErr(wsframe.ErrTooManyFragments)
	}
	// Fail fast: the whole message is over the limit as soon as a header
	// says so, before its payload is read. Both terms are ≤ the limit here,
	// so the sum cannot overflow.
	limit := s.cfg.MaxMessageSize
	if s.compressed {
		// The inflater holds the inflated size to the limit; the
		// compressed bytes may pass it by the few bytes per block that
		// incompressible data costs.
		limit = compressedLimit(limit)
	}
	if s.msgSize+h.Length > limit {
		return s.ruleErr(wsframe.ErrMessageTooBig)
	}
	s.msgSize += h.Length
	return nil
}

// data delivers a piece of a data frame.
func (s *Session) data(p []byte, frameEnd bool) error {
	end := frameEnd && s.hdr.Fin
	if s.compressed {
		// RFC 7692 §7.2.2: the message's payload, with 00 00 ff ff
		// appended, inflated; MaxMessageSize bounds the inflated size
		// (1009), corrupt data is 1007.
		out, err := s.inflater.Write(s.inflated[:0], p)
		if err == nil && end {
			out, err = s.inflater.Finish(out)
		}
		s.inflated = out
		if err != nil {
			return err
		}
		if end && cap(s.inflated) > maxKeptDeflateBuffer {
			s.inflated = nil // out still holds this event's bytes
		}
		if s.msgOpcode == wsframe.OpText {
			if _, ok := s.utf8.Check(out); !ok || end && !s.utf8.Complete() {
				return s.ruleErr(wsframe.ErrInvalidUTF8)
			}
		}
		p = out
	} else if s.msgOpcode == wsframe.OpText {
		// RFC 6455 §8.1, fail fast: at the first byte that proves it.
		if i, ok := s.utf8.Check(p); !ok {
			return &wsframe.Error{Rule: wsframe.ErrInvalidUTF8, Offset: s.base + s.parser.Offset() - int64(len(p)-i)}
		}
		if end && !s.utf8.Complete() {
			return s.ruleErr(wsframe.ErrInvalidUTF8)
		}
	}
	if len(p) == 0 && !end {
		return nil // an empty piece carries nothing
	}
	ev := &s.ev
	ev.Kind, ev.Opcode, ev.Data = EventData, s.msgOpcode, p
	ev.Start, ev.End = !s.msgStarted, end
	s.msgStarted = true
	if end {
		s.msgOpcode = 0
	}
	return nil
}

// control handles a complete control frame.
func (s *Session) control(p []byte) error {
	ev := &s.ev
	ev.Data, ev.Start, ev.End = p, true, true
	switch s.hdr.Opcode {
	case wsframe.OpPing:
		ev.Kind = EventPing
		// §5.5.2: answer with a Pong carrying the same payload, unless a
		// Close has gone out. §5.5.3: when Pings come faster than Pongs go
		// out, answering the latest is enough: past maxQueuedPongs the
		// newest replaces the last one queued, so a ping flood against a
		// peer that does not read queues a bounded number of bytes.
		if !s.closeSent {
			if s.pongs == maxQueuedPongs {
				s.pending = s.pending[:int(s.lastPong)]
				s.pongs--
			}
			s.lastPong = int32(len(s.pending))
			s.pending = s.appendFrame(s.pending, wsframe.OpPong, true, p)
			s.pongs++
		}
	case wsframe.OpPong:
		ev.Kind = EventPong
	case wsframe.OpClose:
		code, reason, err := wsframe.ParseClose(p)
		if err != nil {
			return s.ruleErr(err.(wsframe.Rule))
		}
		ev.Kind, ev.Code, ev.Reason = EventClose, code, reason
		s.closeReceived = true
		s.Release() // nothing more is read (a message cut short ends here)
		// §5.5.1: reply with a Close, echoing the code, unless one was sent.
		if !s.closeSent {
			s.closeSent = true
			var echo [2]byte
			payload := echo[:0]
			if code != wsframe.CloseNoStatus {
				payload = binary.BigEndian.AppendUint16(payload, uint16(code))
			}
			s.pending = s.appendFrame(s.pending, wsframe.OpClose, true, payload)
		}
	}
	return nil
}

// fail records a protocol error and queues the Close it calls for.
func (s *Session) fail(err error) error {
	s.err = err
	s.Release()
	if !s.closeSent {
		code, ok := wsframe.CodeOf(err)
		if !ok {
			code, ok = deflate.CodeOf(err)
		}
		if !ok {
			code = wsframe.CloseProtocolError
		}
		payload, _ := wsframe.AppendClose(nil, code, "")
		s.pending = s.appendFrame(s.pending, wsframe.OpClose, true, payload)
		s.closeSent = true
	}
	return err
}

// SetMaxMessageSize changes the message limit (SessionConfig.MaxMessageSize;
// 0 or less: the default) from the next frame header on: a message in
// progress that the next header takes over the new limit fails with 1009,
// and an inflated message is held to the new limit from its next piece.
func (s *Session) SetMaxMessageSize(n int64) {
	if n <= 0 {
		n = DefaultMaxMessageSize
	}
	s.cfg.MaxMessageSize = n
	if s.deflateState != nil {
		s.parser.SetMaxPayload(compressedLimit(n))
		s.inflater.SetLimit(n)
		return
	}
	s.parser.SetMaxPayload(n)
}

// DataRemaining is the number of payload bytes still to come in the data
// frame being read (0 when none is): the caller may read that many bytes
// straight into where the message goes, and pass them to Next there.
func (s *Session) DataRemaining() int64 {
	if s.hdr == nil || s.hdr.Opcode.IsControl() || s.compressed {
		return 0
	}
	return s.parser.Remaining()
}

// Err returns the protocol error that stopped the session, or nil.
func (s *Session) Err() error { return s.err }

// Pending returns the bytes the session wants sent on its own (Pongs, the
// Close reply, the Close after an error). Send them, then ClearPending.
func (s *Session) Pending() []byte { return s.pending }

// ClearPending forgets the pending bytes once they are sent.
func (s *Session) ClearPending() { s.pending, s.pongs = s.pending[:0], 0 }

// maxQueuedPongs bounds the Pongs waiting in Pending.
const maxQueuedPongs = 16

// CloseSent reports whether this end has sent (or queued) its Close.
func (s *Session) CloseSent() bool { return s.closeSent }

// CloseReceived reports whether the peer's Close has been read.
func (s *Session) CloseReceived() bool { return s.closeReceived }

// Role is the session's role.
func (s *Session) Role() wsframe.Role { return s.cfg.Role }

// appendFrame writes a frame as this role must: masked by a client with a
// fresh key, unmasked by a server.
func (s *Session) appendFrame(dst []byte, op wsframe.Opcode, fin bool, payload []byte) []byte {
	h := wsframe.Header{Fin: fin, Opcode: op, Length: int64(len(payload))}
	if s.rng != nil {
		h.Masked = true
		binary.LittleEndian.PutUint32(h.Mask[:], uint32(s.rng.Uint64()))
	}
	return wsframe.AppendFrame(dst, h, payload)
}

// ErrSequence is returned for a data frame that breaks the sending order of
// fragments (a continuation without a message, or a new message in the
// middle of one).
var ErrSequence = errors.New("wsconn: data frame out of sequence")

// ErrControlPayloadTooLong is returned when this end is asked to send a
// control frame (Ping, Pong) whose payload is over 125 bytes: a local
// mistake, the connection stays usable. A peer sending one breaks
// wsframe.ErrControlTooLong, which ends the connection with 1002.
var ErrControlPayloadTooLong = errors.New("wsconn: control payload longer than 125 bytes")

// checkSend applies the sending rules and updates the sending state.
func (s *Session) checkSend(op wsframe.Opcode, fin bool, n int) error {
	if op.IsControl() {
		if n > wsframe.MaxControlPayload {
			return ErrControlPayloadTooLong
		}
		if s.closeSent {
			return ErrClosed
		}
		return nil
	}
	if s.closeSent {
		return ErrClosed // §5.5.1: no data frame after a Close
	}
	switch {
	case op == wsframe.OpContinuation && !s.sending, op != wsframe.OpContinuation && s.sending:
		return ErrSequence
	case op != wsframe.OpContinuation && op != wsframe.OpText && op != wsframe.OpBinary:
		return ErrSequence
	}
	s.sending = !fin
	return nil
}

// AppendFrame appends a frame to send: a data frame (OpText or OpBinary to
// start a message, OpContinuation for its next fragments, fin on the last)
// or a Ping or Pong. A client masks the copy it writes. Close frames go
// through AppendClose.
func (s *Session) AppendFrame(dst []byte, op wsframe.Opcode, fin bool, payload []byte) ([]byte, error) {
	if op == wsframe.OpClose {
		return dst, errors.New("wsconn: send Close with AppendClose")
	}
	if err := s.checkSend(op, fin, len(payload)); err != nil {
		return dst, err
	}
	return s.appendFrame(dst, op, fin, payload), nil
}

// AppendHeader is AppendFrame without the payload, for writing a large
// payload from the caller's own buffer (one writev of header and payload).
// It returns the header it wrote: when h.Masked (a client), the caller
// must mask the payload with h.Mask (wsframe.Mask(h.Mask, 0, payload))
// before sending it.
func (s *Session) AppendHeader(dst []byte, op wsframe.Opcode, fin bool, n int) (out []byte, h wsframe.Header, err error) {
	if op == wsframe.OpClose {
		return dst, h, errors.New("wsconn: send Close with AppendClose")
	}
	if err := s.checkSend(op, fin, n); err != nil {
		return dst, h, err
	}
	h = wsframe.Header{Fin: fin, Opcode: op, Length: int64(n)}
	if s.rng != nil {
		h.Masked = true
		binary.LittleEndian.PutUint32(h.Mask[:], uint32(s.rng.Uint64()))
	}
	return wsframe.AppendHeader(dst, h), h, nil
}

// AppendClose appends this end's Close frame (RFC 6455 §5.5.1), once.
func (s *Session) AppendClose(dst []byte, code wsframe.CloseCode, reason string) ([]byte, error) {
	if s.closeSent {
		return dst, ErrClosed
	}
	var buf [wsframe.MaxControlPayload]byte
	payload, err := wsframe.AppendClose(buf[:0], code, reason)
	if err != nil {
		return dst, err
	}
	s.closeSent = true
	return s.appendFrame(dst, wsframe.OpClose, true, payload), nil
}

// maxKeptDeflateBuffer bounds the inflate output and compressed message
// buffers a session keeps between messages: small messages reuse them, a
// larger one allocates its own (its compression costs far more), so an idle
// connection without context takeover holds no more than without the
// extension, give or take 2 KiB.
const maxKeptDeflateBuffer = 1 << 10

// compressedLimit is how many compressed bytes a message within limit may
// take: stored blocks add 5 bytes per 64 KiB, plus the block headers.
func compressedLimit(limit int64) int64 {
	return limit + limit>>12 + 1024
}

// setupDeflate makes the inflater and the compressor of the agreement: this
// end inflates with the peer's parameters and compresses with its own
// (RFC 7692 §7.1: server_* are the server's compressor, client_* the
// client's).
func (s *Session) setupDeflate(p handshake.DeflateParams) {
	recvNoCtx, recvBits := p.ClientNoContextTakeover, p.ClientWindow()
	sendNoCtx, sendBits := p.ServerNoContextTakeover, p.ServerWindow()
	if s.cfg.Role == wsframe.RoleClient {
		recvNoCtx, recvBits, sendNoCtx, sendBits = sendNoCtx, sendBits, recvNoCtx, recvBits
	}
	s.deflateState = new(deflateState)
	var err error
	s.inflater, err = deflate.NewDecompressor(deflate.Config{NoContextTakeover: recvNoCtx, WindowBits: recvBits}, s.cfg.MaxMessageSize)
	if err == nil {
		s.deflater, err = deflate.NewCompressor(deflate.Config{NoContextTakeover: sendNoCtx, WindowBits: sendBits})
	}
	s.sendNoCtx, s.sendBits = sendNoCtx, sendBits
	if err != nil {
		// handshake validated the parameters (8-15): unreachable.
		panic("wsconn: permessage-deflate parameters: " + err.Error())
	}
	s.threshold = s.cfg.CompressThreshold
	if s.threshold == 0 {
		s.threshold = DefaultCompressThreshold
		if sendNoCtx {
			s.threshold = DefaultCompressThresholdNoTakeover
		}
	}
}

// Release gives back what inflating holds (a message being inflated, the
// window). The connection's owner calls it when the read side ends; the
// session does on a protocol error and on the peer's Close. Nothing can be
// inflated after it. The compressor belongs to the write side and holds
// only its context (a few KiB, see deflate.DefaultContext).
func (s *Session) Release() {
	if s.deflateState != nil {
		s.inflater.Abort()
		s.inflated = nil
	}
}

// sharedCompression says how a message this session sends may be
// compressed once and shared with other connections: when its compressor
// starts every message empty (no context takeover), any compression of the
// message with a window of at most 2^bits is what it would send, for
// messages of at least threshold bytes.
func (s *Session) sharedCompression() (bits, threshold int, ok bool) {
	if s.deflateState == nil {
		return 0, 0, false
	}
	return s.sendBits, s.threshold, s.sendNoCtx
}

// Compressing reports whether permessage-deflate is on for sending.
func (s *Session) Compressing() bool { return s.deflateState != nil }

// Compress compresses a whole message for AppendCompressed when the
// extension is on and the message is at least the threshold long; ok is
// false when the message should go as it is. It belongs to the write side:
// call it with writes serialised, not under the lock that guards reading
// (it touches nothing the reading side does). The result is valid until
// the next call.
func (s *Session) Compress(payload []byte) (z []byte, ok bool, err error) {
	if s.deflateState == nil || len(payload) < s.threshold {
		return nil, false, nil
	}
	z, err = s.deflater.Compress(s.zbuf[:0], payload)
	if err != nil {
		return nil, false, err
	}
	s.zbuf = z[:0]
	return z, true, nil
}

// AppendCompressed appends a whole message (OpText or OpBinary) that
// Compress compressed, as one frame with RSV1 (RFC 7692 §6). A client
// masks the copy it writes.
func (s *Session) AppendCompressed(dst []byte, op wsframe.Opcode, z []byte) ([]byte, error) {
	if op != wsframe.OpText && op != wsframe.OpBinary {
		return dst, ErrSequence
	}
	if err := s.checkSend(op, true, len(z)); err != nil {
		return dst, err
	}
	h := wsframe.Header{Fin: true, Rsv: wsframe.RSV1, Opcode: op, Length: int64(len(z))}
	if s.rng != nil {
		h.Masked = true
		binary.LittleEndian.PutUint32(h.Mask[:], uint32(s.rng.Uint64()))
	}
	dst = wsframe.AppendFrame(dst, h, z)
	if s.deflateState != nil && cap(s.zbuf) > maxKeptDeflateBuffer {
		s.zbuf = nil
	}
	return dst, nil
}
