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
}

// RefResult is what the reference decoder found in a whole buffer.
type RefResult struct {
	Frames     []RefFrame
	Code       int   // close code of the first violation; 0 when none
	ErrOffset  int64 // index of the byte that proved the violation
	Incomplete bool  // the buffer ends inside a frame
}

// RefDecode decodes a whole buffer of frames, reading RFC 6455 §5.2 as
// literally as possible: one field after the other, each rule checked as
// soon as the bytes it depends on are present. Clarity over speed.
func RefDecode(in []byte, c RefConfig) RefResult {
	var res RefResult
	fail := func(code int, at int) RefResult {
		res.Code, res.ErrOffset = code, int64(at)
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
			return fail(1002, pos)
		}
		if isControl {
			// §5.5: "All control frames ... MUST NOT be fragmented."
			if !fin {
				return fail(1002, pos)
			}
			// RSV bits: no extension here defines them for control frames.
			if rsv != 0 {
				return fail(1002, pos)
			}
		} else if rsv & ^c.AllowedRSV != 0 {
			// "MUST be 0 unless an extension is negotiated that defines
			// meanings for non-zero values".
			return fail(1002, pos)
		}
		if pos+1 >= len(in) {
			return incomplete()
		}

		// Byte 1: MASK, payload length (7 bits).
		b1 := in[pos+1]
		masked := b1&0x80 != 0
		// §5.1: a client masks every frame; a server masks none.
		if masked != c.Server {
			return fail(1002, pos+1)
		}
		len7 := uint64(b1 & 0x7F)
		// §5.5: "All control frames MUST have a payload length of 125
		// bytes or less".
		if isControl && len7 > 125 {
			return fail(1002, pos+1)
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
				return fail(1002, pos+2)
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
			return fail(1009, lengthEnd-1)
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
		if uint64(len(in)-payloadStart) < length {
			return incomplete()
		}
		payload := make([]byte, length)
		for i := range payload {
			payload[i] = in[payloadStart+i]
			if masked {
				payload[i] ^= key[i%4]
			}
		}
		res.Frames = append(res.Frames, RefFrame{Fin: fin, Rsv: rsv, Opcode: opcode, Masked: masked, Mask: key, Payload: payload})
		pos = payloadStart + int(length)
	}
	return res
}
