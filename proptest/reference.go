package proptest

import "encoding/binary"

// RefConfig configures the reference decoder.
type RefConfig struct {
	Server     bool   // the reader is a server: client frames must be masked
	AllowedRSV uint8  // RSV bits (RSV1=4, RSV2=2, RSV3=1) allowed on data frames
	MaxPayload uint64 // longest payload accepted; 0 means 16 MiB, as in wsframe.Config
}

// RefFrame is one decoded frame, payload unmasked.
type RefFrame struct {
	Fin     bool
	Rsv     uint8
	Opcode  uint8
	Masked  bool
	Mask    [4]byte
	Payload []byte
	// Where the frame sits in the stream: the index of its first payload
	// byte (the header's end) and of the byte after its payload. Only
	// RefDecode fills them; diff does not compare them.
	PayloadAt, End int64
}

// RefResult is what the reference decoder found in a whole buffer.
type RefResult struct {
	Frames []RefFrame
	// The first violation: the rule's name (as RFC 6455 §5 states it, in
	// the words of wsframe's rule table: "ReservedOpcode", "FrameTooBig",
	// ...), its close code and the index of the byte that proved it. Rule
	// is "" and Code 0 when there is none.
	Rule       string
	Code       int
	ErrOffset  int64
	Incomplete bool // the buffer ends inside a frame
	// Partial is the frame the buffer ends in, when its header is complete:
	// the payload bytes present, unmasked. Only RefDecode fills it.
	Partial *RefFrame
}

// RefDecode decodes a whole buffer of frames, reading RFC 6455 §5.2 as
// literally as possible: one field after the other, each rule checked as
// soon as the bytes it depends on are present. Clarity over speed.
func RefDecode(in []byte, c RefConfig) RefResult {
	var res RefResult
	fail := func(rule string, code int, at int) RefResult {
		res.Rule, res.Code, res.ErrOffset = rule, code, int64(at)
		return res
	}
	incomplete := func() RefResult {
		res.Incomplete = true
		return res
	}
	limit := c.MaxPayload
	if limit == 0 {
		limit = 16 << 20
	}
	pos := 0
	for pos < len(in) {
		// Byte 0: FIN, RSV1, RSV2, RSV3, opcode (4 bits).
		b0 := in[pos]
		fin := b0&0x80 != 0
		rsv := (b0 >> 4) & 0x7
		opcode := b0 & 0x0F
		isControl := opcode >= 0x8
		// "%x3-7 are reserved for further non-control frames",
		// "%xB-F are reserved for further control frames".
		if (opcode >= 0x3 && opcode <= 0x7) || opcode >= 0xB {
			return fail("ReservedOpcode", 1002, pos)
		}
		if isControl {
			// §5.5: "All control frames ... MUST NOT be fragmented."
			if !fin {
				return fail("FragmentedControl", 1002, pos)
			}
			// RSV bits: no extension here defines them for control frames.
			if rsv != 0 {
				return fail("ControlReservedBits", 1002, pos)
			}
		} else if rsv & ^c.AllowedRSV != 0 {
			// "MUST be 0 unless an extension is negotiated that defines
			// meanings for non-zero values".
			return fail("ReservedBits", 1002, pos)
		}
		if pos+1 >= len(in) {
			return incomplete()
		}

		// Byte 1: MASK, payload length (7 bits).
		b1 := in[pos+1]
		masked := b1&0x80 != 0
		// §5.1: a client masks every frame; a server masks none.
		if masked != c.Server {
			if masked {
				return fail("MaskedFrame", 1002, pos+1)
			}
			return fail("UnmaskedFrame", 1002, pos+1)
		}
		len7 := uint64(b1 & 0x7F)
		// §5.5: "All control frames MUST have a payload length of 125
		// bytes or less".
		if isControl && len7 > 125 {
			return fail("ControlTooLong", 1002, pos+1)
		}
		lengthEnd := pos + 2 // first byte after the length field
		var length uint64
		switch len7 {
		case 126:
			// "the following 2 bytes interpreted as a 16-bit unsigned integer"
			lengthEnd += 2
			if lengthEnd > len(in) {
				return incomplete()
			}
			length = uint64(binary.BigEndian.Uint16(in[pos+2:]))
		case 127:
			// "the following 8 bytes interpreted as a 64-bit unsigned
			// integer (the most significant bit MUST be 0)"
			if pos+2 < len(in) && in[pos+2]&0x80 != 0 {
				return fail("LengthTopBit", 1002, pos+2)
			}
			lengthEnd += 8
			if lengthEnd > len(in) {
				return incomplete()
			}
			length = binary.BigEndian.Uint64(in[pos+2:])
		default:
			length = len7
		}
		// The endpoint's own limit, checked on the last length byte.
		if length > limit {
			return fail("FrameTooBig", 1009, lengthEnd-1)
		}

		// Masking key: 4 bytes, present when MASK is set.
		var key [4]byte
		payloadStart := lengthEnd
		if masked {
			payloadStart += 4
			if payloadStart > len(in) {
				return incomplete()
			}
			copy(key[:], in[lengthEnd:payloadStart])
		}

		// Payload: length bytes, unmasked with "j = i MOD 4".
		present := min(uint64(len(in)-payloadStart), length)
		payload := make([]byte, present)
		for i := range payload {
			payload[i] = in[payloadStart+i]
			if masked {
				payload[i] ^= key[i%4]
			}
		}
		f := RefFrame{Fin: fin, Rsv: rsv, Opcode: opcode, Masked: masked, Mask: key, Payload: payload,
			PayloadAt: int64(payloadStart), End: int64(payloadStart) + int64(length)}
		if present < length {
			res.Partial = &f
			return incomplete()
		}
		res.Frames = append(res.Frames, f)
		pos = payloadStart + int(length)
	}
	return res
}

// RefEncode appends a frame written field by field as RFC 6455 §5.2 lays it
// out, with the shortest length encoding: byte 0 (FIN, RSV, opcode), byte 1
// (MASK, 7-bit length), the 16- or 64-bit length, the key, the payload
// masked with "j = i MOD 4" when masked is set.
func RefEncode(dst []byte, fin bool, rsv, opcode uint8, masked bool, key [4]byte, payload []byte) []byte {
	b0 := rsv<<4 | opcode&0x0F
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, b0, b1|byte(n))
	case n <= 0xFFFF:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, b1|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, b1|127), uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	dst = append(dst, key[:]...)
	for i, c := range payload {
		dst = append(dst, c^key[i%4])
	}
	return dst
}
