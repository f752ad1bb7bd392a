package wsframe

import (
	"encoding/binary"
	"math/bits"
)

// UTF8Validator checks text incrementally (RFC 6455 §8.1): give Check the
// pieces of a message in order, split anywhere, and it fails at the first
// byte that proves the text invalid, without waiting for the end. Its DFA
// is generated from the declaration in wsfsm/gen (utf8.dot, utf8_gen.go).
// The zero value is ready.
type UTF8Validator struct{ state uint8 }

const asciiMask = 0x8080808080808080

// Check checks the next piece p. When p proves the text invalid it returns
// false and the index in p of the byte that proved it; the validator then
// stays invalid. Otherwise it returns len(p), true.
func (v *UTF8Validator) Check(p []byte) (int, bool) {
	s := v.state
	if s == utf8Invalid {
		return 0, false
	}
	i := 0
	for i < len(p) {
		if s == utf8Ready {
			// ASCII fast path, a word at a time.
			for len(p)-i >= 8 {
				w := binary.LittleEndian.Uint64(p[i:])
				if w&asciiMask != 0 {
					i += bits.TrailingZeros64(w&asciiMask) >> 3
					break
				}
				i += 8
			}
			if i == len(p) {
				break
			}
		}
		s = utf8Trans[int(s)*utf8Classes+int(utf8Class[p[i]])]
		if s == utf8Invalid {
			v.state = s
			return i, false
		}
		i++
	}
	v.state = s
	return len(p), true
}

// Complete reports whether the text fed so far is valid and ends between
// code points: a message may end here.
func (v *UTF8Validator) Complete() bool { return v.state == utf8Ready }

// Valid reports whether nothing fed so far proved the text invalid.
func (v *UTF8Validator) Valid() bool { return v.state != utf8Invalid }

// Reset readies v for a new text.
func (v *UTF8Validator) Reset() { v.state = utf8Ready }

// ValidUTF8 reports whether p is valid UTF-8 as a whole.
func ValidUTF8(p []byte) bool {
	var v UTF8Validator
	_, ok := v.Check(p)
	return ok && v.Complete()
}
