package proptest

import (
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/wsframe"
)

// completions are enough to finish any valid incomplete sequence: every
// legal second byte range (80-BF, A0-BF, 80-9F, 90-BF, 80-8F) holds one of
// them, and any continuation byte does for the third and fourth.
var completions = []byte{0x80, 0x90, 0xA0}

// completable reports whether some valid UTF-8 text starts with q, where q
// is at most 4 bytes starting with a lead byte. Only unicode/utf8 decides.
func completable(q []byte) bool {
	if utf8.Valid(q) {
		return true
	}
	var try func(s []byte) bool
	try = func(s []byte) bool {
		if len(s) > utf8.UTFMax {
			return false
		}
		if utf8.Valid(s) {
			return true
		}
		for _, c := range completions {
			if try(append(s[:len(s):len(s)], c)) {
				return true
			}
		}
		return false
	}
	return try(q)
}

// firstInvalid is the oracle: the index of the first byte b such that no
// valid UTF-8 text starts with p[:b+1], or -1.
func firstInvalid(p []byte) int {
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		k := 1
		for ; k <= utf8.UTFMax && i+k <= len(p); k++ {
			if !completable(p[i : i+k]) {
				return i + k - 1
			}
			if utf8.Valid(p[i : i+k]) {
				break
			}
		}
		if i+k > len(p) {
			return -1 // valid so far, ends inside a sequence
		}
		i += k
	}
	return -1
}

// feed runs the validator over p cut by plan and returns where it failed
// (-1 if it did not) and whether it ended complete.
func feed(p []byte, plan []int) (int, bool) {
	var v wsframe.UTF8Validator
	off := 0
	for chunk := range Split(p, plan) {
		if n, ok := v.Check(chunk); !ok {
			return off + n, false
		}
		off += len(chunk)
	}
	return -1, v.Complete()
}

func checkUTF8(p []byte, plan []int) string {
	bad, complete := feed(p, plan)
	if want := firstInvalid(p); bad != want {
		return fmt.Sprintf("failed at %d, the first byte proving invalidity is %d", bad, want)
	}
	if valid := bad < 0 && complete; valid != utf8.Valid(p) {
		return fmt.Sprintf("valid %v, unicode/utf8 says %v", valid, utf8.Valid(p))
	}
	return ""
}

func TestUTF8Properties(t *testing.T) {
	props := newProperties(t)
	props.Property("validator agrees with unicode/utf8 and fails at the first proving byte, on arbitrary bytes under any split", prop.ForAll(
		checkUTF8, GenBytes(), GenSplitPlan()))
	props.Property("valid text is valid under any split", prop.ForAll(
		func(rs []rune, plan []int) string { return checkUTF8(Text(rs), plan) }, GenRunes(), GenSplitPlan()))
	props.Property("broken text fails at the defect, under any split", prop.ForAll(
		func(b BrokenText, plan []int) string {
			p, at := b.Bytes()
			bad, complete := feed(p, plan)
			if bad < 0 && complete {
				return fmt.Sprintf("defect at %d went unnoticed", at)
			}
			if bad >= 0 && (bad < at || bad >= at+utf8.UTFMax) {
				return fmt.Sprintf("defect at %d, validator failed at %d", at, bad)
			}
			return checkUTF8(p, plan)
		}, GenBrokenText(), GenSplitPlan()))
	props.TestingRun(t)
}

// The oracle itself, on the cases whose answer is known.
func TestFirstInvalidOracle(t *testing.T) {
	for in, want := range map[string]int{
		"":                 -1,
		"abc":              -1,
		"é":                -1,
		"\xC3":             -1,
		"\xE0\x80":         1,
		"\xED\xA0\x80":     1,
		"\xF4\x90":         1,
		"ab\xC0":           2,
		"\xE2\x82a":        2,
		"\xF0\x9F\x98\x80": -1,
	} {
		if got := firstInvalid([]byte(in)); got != want {
			t.Errorf("firstInvalid(%q) = %d, want %d", in, got, want)
		}
	}
}
