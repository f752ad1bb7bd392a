package wsframe

import (
	"testing"
	"unicode/utf8"
)

func TestUTF8Cases(t *testing.T) {
	cases := []struct {
		name string
		in   string
		bad  int // index of the byte that proves invalidity; -1 valid; -2 valid prefix, incomplete
	}{
		{"empty", "", -1},
		{"ascii", "Hello, world, longer than one word", -1},
		{"two-byte", "héllo", -1},
		{"three-byte", "€uro", -1},
		{"four-byte", "𝄞 clef", -1},
		{"max code point U+10FFFF", "\xF4\x8F\xBF\xBF", -1},
		{"U+FFFF", "\xEF\xBF\xBF", -1},
		{"overlong 2-byte /", "ab\xC0\xAF", 2},
		{"overlong C1", "\xC1\xBF", 0},
		{"overlong 3-byte", "\xE0\x80\xAF", 1},
		{"overlong 4-byte", "\xF0\x80\x80\xAF", 1},
		{"surrogate U+D800", "abcdefghij\xED\xA0\x80", 11},
		{"surrogate U+DFFF", "\xED\xBF\xBF", 1},
		{"above U+10FFFF", "\xF4\x90\x80\x80", 1},
		{"F5 lead", "\xF5\x80\x80\x80", 0},
		{"FF byte", "abcdefgh\xFF", 8},
		{"stray continuation", "a\x80", 1},
		{"truncated then ASCII", "\xE2\x82a", 2},
		{"truncated at end", "ok\xE2\x82", -2},
		{"lead after lead", "\xC3\xC3", 1},
	}
	for _, c := range cases {
		for split := 0; split <= len(c.in); split++ {
			var v UTF8Validator
			in := []byte(c.in)
			n1, ok1 := v.Check(in[:split])
			n2, ok2 := v.Check(in[split:])
			bad := -1
			switch {
			case !ok1:
				bad = n1
			case !ok2:
				bad = split + n2
			}
			switch c.bad {
			case -1:
				if bad != -1 || !v.Complete() {
					t.Errorf("%s split %d: bad at %d, complete %v", c.name, split, bad, v.Complete())
				}
			case -2:
				if bad != -1 || v.Complete() || !v.Valid() {
					t.Errorf("%s split %d: want valid but incomplete", c.name, split)
				}
			default:
				if bad != c.bad {
					t.Errorf("%s split %d: bad at %d, want %d", c.name, split, bad, c.bad)
				}
				if _, ok := v.Check([]byte("a")); ok || v.Valid() {
					t.Errorf("%s: invalid state is not sticky", c.name)
				}
			}
		}
		if got, want := ValidUTF8([]byte(c.in)), utf8.ValidString(c.in); got != want {
			t.Errorf("%s: ValidUTF8 %v, utf8.Valid %v", c.name, got, want)
		}
	}
}

// Every 1-, 2- and 3-byte string, and every 4-byte string whose first byte
// is a 4-byte lead: the DFA and unicode/utf8 agree.
func TestUTF8Exhaustive(t *testing.T) {
	b := make([]byte, 4)
	for x := 0; x < 1<<24; x++ {
		b[0], b[1], b[2] = byte(x>>16), byte(x>>8), byte(x)
		for n := 1; n <= 3; n++ {
			if n < 3 && x>>(8*n) != 0 {
				continue
			}
			if ValidUTF8(b[:n]) != utf8.Valid(b[:n]) {
				t.Fatalf("% X: disagree", b[:n])
			}
		}
	}
	for lead := 0xF0; lead <= 0xF4; lead++ {
		for x := 0; x < 1<<16; x++ {
			b := []byte{byte(lead), byte(x >> 8), byte(x), 0x80}
			if ValidUTF8(b) != utf8.Valid(b) {
				t.Fatalf("% X: disagree", b)
			}
		}
	}
}
