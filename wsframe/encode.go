package wsframe

import (
	"encoding/binary"
	"math/bits"
)

// HeaderSize is the number of bytes AppendHeader writes for h.
func HeaderSize(h Header) int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// AppendHeader appends h to dst with the shortest length encoding
// (RFC 6455 §5.2: "the minimal number of bytes MUST be used"). h.Length must
// be at least 0; h is written as given, even if it breaks a rule, so that
// tests can build bad frames.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Opcode&0x0F) | (h.Rsv&7)<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length > 0xFFFF:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	case h.Length > 125:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|byte(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// AppendFrame appends a whole frame: h with Length set to len(payload), then
// the payload, masked with h.Mask when h.Masked. payload is not modified.
func AppendFrame(dst []byte, h Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	dst = AppendHeader(dst, h)
	start := len(dst)
	dst = append(dst, payload...)
	if h.Masked {
		Mask(h.Mask, 0, dst[start:])
	}
	return dst
}

// Mask XORs b in place with the masking key (RFC 6455 §5.3), where b[0] is
// payload byte number offset of its frame, and returns the offset of the
// byte after b modulo 4, to pass to the next call. Masking twice unmasks.
// It uses AVX2 on amd64 CPUs that have it (32 bytes a vector, 128 a loop),
// else a machine word at a time, 32 bytes a loop.
func Mask(key [4]byte, offset int, b []byte) int {
	return mask(binary.LittleEndian.Uint32(key[:]), offset, b)
}

// mask is Mask with the key as a little-endian word (key[0] lowest). It is
// small enough to inline, so that short payloads go straight to maskWord,
// a leaf function without a stack frame; long ones start with the vector
// loop, which consumes a multiple of 4 bytes and so keeps the offset.
func mask(key uint32, offset int, b []byte) int {
	if len(b) >= 128 {
		b = maskVector(b, uint64(bits.RotateLeft32(key, -8*(offset&3)))*0x100000001)
	}
	return maskWord(key, offset, b)
}

// maskWord masks a machine word at a time.
func maskWord(key uint32, offset int, b []byte) int {
	o := offset & 3
	// Rotate the key so that byte j of each word is key[(o+j)%4].
	k32 := bits.RotateLeft32(key, -8*o)
	if len(b) >= 8 {
		k := uint64(k32) | uint64(k32)<<32
		for len(b) >= 32 {
			w := b[:32:32]
			binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k)
			binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k)
			binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k)
			binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	// Whole words do not move the offset; the tail does.
	for i := range b {
		b[i] ^= byte(k32 >> (8 * (i & 3)))
	}
	return (o + len(b)) & 3
}
