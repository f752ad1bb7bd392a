package fsm

import (
	"fmt"
	"math/bits"
	"strings"
)

// ByteSet is a set of byte values, one bit per value.
type ByteSet [4]uint64

// All is the set of all 256 byte values.
func All() ByteSet { return ByteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)} }

// Range is the set of bytes from lo to hi inclusive (empty when lo > hi).
func Range(lo, hi byte) ByteSet {
	var s ByteSet
	for b := int(lo); b <= int(hi); b++ {
		s.add(byte(b))
	}
	return s
}

// Bytes is the set of the given bytes.
func Bytes(bs ...byte) ByteSet {
	var s ByteSet
	for _, b := range bs {
		s.add(b)
	}
	return s
}

// Where is the set of bytes for which pred holds. It suits sets defined by
// bit fields, such as "FIN set and opcode 0x8".
func Where(pred func(b byte) bool) ByteSet {
	var s ByteSet
	for b := 0; b < 256; b++ {
		if pred(byte(b)) {
			s.add(byte(b))
		}
	}
	return s
}

func (s *ByteSet) add(b byte) { s[b>>6] |= 1 << (b & 63) }

// Has reports whether b is in the set.
func (s ByteSet) Has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }

// Union returns s ∪ t.
func (s ByteSet) Union(t ByteSet) ByteSet {
	return ByteSet{s[0] | t[0], s[1] | t[1], s[2] | t[2], s[3] | t[3]}
}

// Intersect returns s ∩ t.
func (s ByteSet) Intersect(t ByteSet) ByteSet {
	return ByteSet{s[0] & t[0], s[1] & t[1], s[2] & t[2], s[3] & t[3]}
}

// Minus returns s \ t.
func (s ByteSet) Minus(t ByteSet) ByteSet {
	return ByteSet{s[0] &^ t[0], s[1] &^ t[1], s[2] &^ t[2], s[3] &^ t[3]}
}

// Len is the number of bytes in the set.
func (s ByteSet) Len() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

// Empty reports whether the set has no byte.
func (s ByteSet) Empty() bool { return s == ByteSet{} }

// Ranges lists the set as maximal runs [lo, hi], in ascending order.
func (s ByteSet) Ranges() [][2]byte {
	var out [][2]byte
	for b := 0; b < 256; {
		if !s.Has(byte(b)) {
			b++
			continue
		}
		lo := b
		for b < 256 && s.Has(byte(b)) {
			b++
		}
		out = append(out, [2]byte{byte(lo), byte(b - 1)})
	}
	return out
}

// String renders the set compactly, e.g. "0x00-0x7F,0xC2".
func (s ByteSet) String() string {
	if s == All() {
		return "any"
	}
	if s.Empty() {
		return "none"
	}
	var parts []string
	for _, r := range s.Ranges() {
		if r[0] == r[1] {
			parts = append(parts, fmt.Sprintf("0x%02X", r[0]))
		} else {
			parts = append(parts, fmt.Sprintf("0x%02X-0x%02X", r[0], r[1]))
		}
	}
	return strings.Join(parts, ",")
}
