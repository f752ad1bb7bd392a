package wsframe

import (
	"encoding/binary"

	"github.com/wsfsm/wsfsm/internal/introspect"
)

// Role says which end of the connection the parser reads for.
type Role uint8

const (
	// RoleServer parses frames a client sent: every frame must be masked.
	RoleServer Role = iota
	// RoleClient parses frames a server sent: no frame may be masked.
	RoleClient
)

func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// DefaultMaxPayload is the frame payload limit when Config.MaxPayload is 0.
const DefaultMaxPayload = 16 << 20

// Config configures a Parser.
type Config struct {
	// Role is the role of the endpoint that reads (RoleServer by default).
	Role Role
	// AllowedRSV holds the RSV bits (RSV1, RSV2, RSV3) that negotiated
	// extensions define for data frames; any other RSV bit fails with
	// ErrReservedBits. Control frames never carry RSV bits.
	AllowedRSV uint8
	// MaxPayload is the largest frame payload accepted; a longer frame
	// fails with ErrFrameTooBig as soon as its length is read. 0 or less
	// means DefaultMaxPayload.
	MaxPayload int64
}

// TokenKind says what a Token carries.
type TokenKind uint8

const (
	// TokenNone: the input is used up; feed more.
	TokenNone TokenKind = iota
	// TokenHeader: a frame header is complete (Token.Header).
	TokenHeader
	// TokenPayload: a piece of payload (Token.Payload), unmasked. Every
	// frame has at least one; the last has End set (for an empty payload,
	// a single empty piece with End set).
	TokenPayload
)

// Token is what Next found. Next returns a pointer to the parser's own
// Token, valid until the next call: nothing is copied or allocated.
type Token struct {
	Kind    TokenKind
	End     bool    // with TokenPayload: this piece ends the frame
	Header  *Header // the current frame's header (the parser's own): read it on TokenHeader
	Payload []byte  // with TokenPayload: aliases the input, valid until it is reused
}

// Parser reads a stream of frames pushed in chunks of any size. The zero
// value is not ready: use NewParser or Reset.
type Parser struct {
	state      uint8 // the machine's state (frame_gen.go)
	server     bool
	allowedRSV uint8
	maxPayload uint64

	hdr       Header
	length    uint64 // length being read
	key       uint32 // masking key, little-endian: key[0] in the low byte
	remaining uint64 // payload bytes left in the current frame
	maskPos   int    // offset into the masking key of the next payload byte
	offset    int64  // bytes consumed from the stream
	err       error
	ev        Token // what Next returns a pointer to
}

// NewParser returns a parser at the start of a stream.
func NewParser(c Config) *Parser {
	p := new(Parser)
	p.Reset(c)
	return p
}

// Reset readies p for a new stream with configuration c.
func (p *Parser) Reset(c Config) {
	max := uint64(c.MaxPayload)
	if c.MaxPayload <= 0 {
		max = DefaultMaxPayload
	}
	*p = Parser{server: c.Role == RoleServer, allowedRSV: c.AllowedRSV & 7, maxPayload: max}
	p.ev.Header = &p.hdr
	p.state = clientFrameReadOpcode
	if p.server {
		p.state = serverFrameReadOpcode
	}
}

// SetMaxPayload changes the largest frame payload accepted, from the next
// frame header on (the frame being read keeps the length it announced);
// 0 or less means DefaultMaxPayload.
func (p *Parser) SetMaxPayload(n int64) {
	p.maxPayload = uint64(n)
	if n <= 0 {
		p.maxPayload = DefaultMaxPayload
	}
}

// Next reads from data and returns the next token and how many bytes of data
// it consumed. Call it again with data[n:]. It returns TokenNone once data is
// used up (n == len(data)); a header or an empty frame's end may still come
// out of an empty data, so loop until TokenNone:
//
//	for {
//		tok, n, err := p.Next(buf)
//		if err != nil { ... }
//		buf = buf[n:]
//		if tok.Kind == TokenNone { break }
//		...
//	}
//
// The token is the parser's own, valid until the next call; its Payload
// aliases data, valid as long as data is. Payload is unmasked in place:
// Next overwrites the payload bytes of data.
// After an error Next returns the same error and consumes nothing.
func (p *Parser) Next(data []byte) (*Token, int, error) {
	if p.err != nil {
		return p.emit(TokenNone, nil, false), 0, p.err
	}
	if !p.inBulk() {
		n, rule := p.step(data)
		p.offset += int64(n)
		if rule != 0 {
			p.err = &Error{Rule: rule, Offset: p.offset}
			return p.emit(TokenNone, nil, false), n, p.err
		}
		if !p.inBulk() {
			return p.emit(TokenNone, nil, false), n, nil
		}
		return p.emit(TokenHeader, nil, false), n, nil
	}
	k := len(data)
	if uint64(k) >= p.remaining {
		k = int(p.remaining)
	}
	piece := data[:k:k]
	if p.hdr.Masked {
		p.maskPos = mask(p.key, p.maskPos, piece)
	}
	p.remaining -= uint64(k)
	p.offset += int64(k)
	if p.remaining == 0 {
		p.leaveBulk()
		return p.emit(TokenPayload, piece, true), k, nil
	}
	if k == 0 {
		return p.emit(TokenNone, nil, false), 0, nil
	}
	return p.emit(TokenPayload, piece, false), k, nil
}

// emit fills p.ev field by field: building a Token value and copying it
// would store bytes and reload them as words, a store-forwarding stall
// that costs more than the rest of a small frame.
func (p *Parser) emit(kind TokenKind, payload []byte, end bool) *Token {
	ev := &p.ev
	ev.Kind = kind
	ev.End = end
	ev.Payload = payload
	return ev
}

// Remaining is the number of payload bytes of the current frame still to
// come (0 outside a payload). A reader can use it to read a large payload
// straight into its final place.
func (p *Parser) Remaining() int64 {
	if p.err != nil || !p.inBulk() {
		return 0
	}
	return int64(p.remaining)
}

// Err returns the error that stopped the parser, or nil.
func (p *Parser) Err() error { return p.err }

// Offset is the number of stream bytes consumed so far.
func (p *Parser) Offset() int64 { return p.offset }

// AtFrameBoundary reports whether the stream may end here cleanly: the
// parser is between frames and has not failed.
func (p *Parser) AtFrameBoundary() bool {
	return p.err == nil && (p.state == serverFrameReadOpcode || p.state == clientFrameReadOpcode)
}

// stateName names the machine state, e.g. "ServerFrame.ReadLen16Hi". The
// repository's tests read it through internal/introspect to check which
// states a property reached; it is not part of the API.
func (p *Parser) stateName() string { return frameStateNames[p.state] }

func init() {
	introspect.FrameState = func(p any) string { return p.(*Parser).stateName() }
	introspect.FrameStates = frameStateNames[:]
}

// The actions the generated machine calls (gen/machines.go declares them).

func (p *Parser) beginFrame(c byte) {
	p.hdr = Header{Fin: c&0x80 != 0, Rsv: (c >> 4) & 7, Opcode: Opcode(c & 0x0F)}
	p.length = 0
}

// RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension is negotiated that
// defines meanings for non-zero values.
func (p *Parser) checkReservedBits() bool { return p.hdr.Rsv&^p.allowedRSV == 0 }

// setMaskBit reads the MASK bit from byte 1 (the machine has matched it to
// the peer's role already).
func (p *Parser) setMaskBit(c byte) { p.hdr.Masked = c&0x80 != 0 }

func (p *Parser) setLen7(c byte) { p.length = uint64(c & 0x7F) }

// The machine rejects a 64-bit length with its top bit set before the
// first byte is shifted in, so length never exceeds 2^63-1 and the limit
// check below compares two uint64 without any arithmetic that could wrap.
func (p *Parser) lenByte(c byte) { p.length = p.length<<8 | uint64(c) }

func (p *Parser) checkLength() bool { return p.length <= p.maxPayload }

func (p *Parser) keyByte(c byte) { p.key = p.key>>8 | uint32(c)<<24 }

func (p *Parser) headerDone() {
	p.hdr.Length = int64(p.length)
	if p.hdr.Masked {
		binary.LittleEndian.PutUint32(p.hdr.Mask[:], p.key)
	}
	p.remaining = p.length
	p.maskPos = 0
}
