package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/internal/seeded"
)

func newProperties(t *testing.T) *gopter.Properties {
	p := seeded.Parameters(t, "./cmd/wsc", 300)
	p.MaxSize = 40 // lines per text, runes per line: rows of 8 to 40 columns
	return gopter.NewProperties(p)
}

// cols is a row's width on a terminal, rune by rune.
func cols(row string) int {
	n := 0
	for _, r := range row {
		if isWide(r) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// visible is what a line shows once laid out, blanks aside: control
// characters in their escaped form, tabs gone (they become blanks).
func visible(line string) string {
	var b strings.Builder
	for _, r := range line {
		switch {
		case r == '\t' || r == ' ':
		case r < 0x20 || r == 0x7f:
			b.WriteString("^" + string(r^0x40))
		case unicode.IsControl(r):
			b.WriteString(`\u` + strconv.FormatInt(int64(r)+0x10000, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestLayout: the rows of a message fit the terminal's width (so none
// wraps onto the typed line), carry no control character (so none moves
// the cursor), keep every visible character in order, and are cut only
// when the next character would not fit.
func TestLayout(t *testing.T) {
	t.Parallel()
	runes := gen.OneGenOf(
		gen.RuneRange('a', 'z'), // neither ^ nor \, which the escaped forms start with
		gen.OneConstOf('\t', ' ', '\x1b', '\r', '\x00', '\x7f', '\u0085', '\u009b', 'é', '界', '😀', '\uFF21'),
	)
	line := gen.SliceOf(runes).Map(func(rs []rune) string { return string(rs) })
	props := newProperties(t)
	props.Property("rows fit, show no control character, keep the text", prop.ForAll(
		func(lines []string, width int) string {
			text := strings.Join(lines, "\n")
			rows := layout(text, width)
			var got []string // per line, the rows joined
			for _, l := range lines {
				lr := layout(l, width)
				for i, r := range lr {
					if c := cols(r); c > width {
						return "row " + strconv.Quote(r) + " is " + strconv.Itoa(c) + " columns wide"
					}
					if strings.ContainsFunc(r, unicode.IsControl) {
						return "row " + strconv.Quote(r) + " has a control character"
					}
					if i+1 < len(lr) && lr[i+1] != "" {
						next := []rune(lr[i+1])[0]
						n := cols(string(next)) // the next character's width: ^X and \u0085 are one
						switch next {
						case '^':
							n = 2
						case '\\':
							n = 6
						}
						if next != ' ' && cols(r)+n <= width {
							return "row " + strconv.Quote(r) + " was cut before " + strconv.QuoteRune(next) + ", which fits"
						}
					}
				}
				got = append(got, lr...)
				if v, w := visible(strings.Join(lr, "")), visible(l); v != w {
					return "shows " + strconv.Quote(v) + ", want " + strconv.Quote(w)
				}
			}
			if strings.Join(rows, "\n") != strings.Join(got, "\n") {
				return "a text is not laid out as its lines are"
			}
			return ""
		},
		gen.SliceOf(line), gen.IntRange(8, 40),
	))
	props.TestingRun(t)
}

// TestScreen: what screen writes for a message on a terminal 10 columns
// by 5 rows: room below, save, insert, the rows, restore, down again; at
// most height-2 rows at a time; below the line, without VT sequences
// (Windows); plainly once the prompt is gone.
func TestScreen(t *testing.T) {
	var out bytes.Buffer
	s := newScreen(&out, "> ", func() (int, int) { return 10, 5 })
	s.vt = true
	s.showPrompt()
	s.writer().Write([]byte("abc\n"))
	want := "> " + "\x1bD\x1bM\x1b7\r\x1b[1Labc\x1b8\x1bD"
	if out.String() != want {
		t.Fatalf("one row: %q, want %q", out.String(), want)
	}
	out.Reset()
	w := s.writer()
	w.Write([]byte("0123456789ab")) // a part without its newline waits
	if out.Len() != 0 {
		t.Fatalf("wrote %q before the newline", out.String())
	}
	w.Write([]byte("\nx\n"))
	want = "\x1bD\x1bD\x1bD\x1bM\x1bM\x1bM\x1b7\r\x1b[3L0123456789\r\nab\r\nx\x1b8\x1bD\x1bD\x1bD"
	if out.String() != want {
		t.Fatalf("three rows: %q, want %q", out.String(), want)
	}
	out.Reset()
	s.size = func() (int, int) { return 10, 4 } // two rows at a time
	w.Write([]byte("1\n2\n3\n"))
	want = "\x1bD\x1bD\x1bM\x1bM\x1b7\r\x1b[2L1\r\n2\x1b8\x1bD\x1bD" + "\x1bD\x1bM\x1b7\r\x1b[1L3\x1b8\x1bD"
	if out.String() != want {
		t.Fatalf("in batches: %q, want %q", out.String(), want)
	}
	out.Reset()
	s.vt = false // Windows: below, and the prompt again
	w.Write([]byte("1\n2\n3\n"))
	if want := "\r\n1\r\n2\r\n3\r\n> "; out.String() != want {
		t.Fatalf("without VT sequences: %q, want %q", out.String(), want)
	}
	out.Reset()
	s.end()
	s.showPrompt()
	w.Write([]byte("closed\n"))
	if want := "\r\x1b[Kclosed\r\n"; out.String() != want {
		t.Fatalf("after the end: %q, want %q", out.String(), want)
	}
}
