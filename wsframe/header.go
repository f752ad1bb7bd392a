package wsframe

import "fmt"

// Opcode is a frame's opcode (RFC 6455 §5.2).
type Opcode uint8

// The opcodes RFC 6455 defines; the others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (0x8-0xF).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is reserved (0x3-0x7, 0xB-0xF).
func (o Opcode) IsReserved() bool { return (o > OpBinary && o < OpClose) || o > OpPong }

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode(0x%X)", uint8(o))
}

// The RSV bits as they appear in Header.Rsv.
const (
	RSV1 uint8 = 0x4 // permessage-deflate's "compressed" bit (RFC 7692 §6)
	RSV2 uint8 = 0x2
	RSV3 uint8 = 0x1
)

// MaxControlPayload is the longest payload a control frame may carry
// (RFC 6455 §5.5).
const MaxControlPayload = 125

// Header is a frame header (RFC 6455 §5.2).
type Header struct {
	Fin    bool
	Rsv    uint8 // RSV1<<2 | RSV2<<1 | RSV3
	Opcode Opcode
	Masked bool
	Mask   [4]byte // the masking key, when Masked
	Length int64   // payload length, 0 to 2^63-1
}

func (h Header) String() string {
	s := fmt.Sprintf("%s fin=%t rsv=%03b len=%d", h.Opcode, h.Fin, h.Rsv, h.Length)
	if h.Masked {
		s += fmt.Sprintf(" mask=%x", h.Mask)
	}
	return s
}
