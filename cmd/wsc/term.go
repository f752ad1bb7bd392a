package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// runInteractive is the client on a terminal: plain lines. The terminal
// stays in its own line mode (cooked), so the kernel echoes what is typed
// and gives the editing keys (Backspace, Ctrl-W, Ctrl-U; Ctrl-R reprints
// the line) and wsc receives each line when Enter is pressed. A prompt is
// printed for each line; what arrives meanwhile is written above the line
// being typed, which stays where it is (see screen). Ctrl-D on an empty
// line ends the input and Ctrl-C (SIGINT) closes: both with 1000, waiting
// for the close handshake.
func runInteractive(ctx context.Context, o *options, conn *wsconn.Conn, ended <-chan struct{}, log *logger) int {
	sc := newScreen(os.Stdout, "> ", func() (int, int) { return termSize(os.Stdout) })
	log.setOutput(sc.writer())
	log.printf("connected to %s%s; Ctrl-D or Ctrl-C to close", o.url, protocolNote(conn))
	r := newClientRun(o, conn, ended, log, newMessageWriter(sc.writer(), o, o.show), "< ")
	op := wsframe.OpText
	if o.binary {
		op = wsframe.OpBinary
	}
	lines := make(chan string)
	go func() {
		br := bufio.NewReader(os.Stdin)
		for {
			l, err := br.ReadString('\n')
			l = strings.TrimSuffix(l, "\n")
			if err != nil {
				if l != "" { // Ctrl-D after text hands it over without Enter
					lines <- l
				}
				close(lines)
				return
			}
			lines <- l
		}
	}()
	// At the end the prompt goes, so that the last line is the close.
	finish := func(err error) int {
		sc.end()
		log.setOutput(os.Stderr)
		return r.status(err, true)
	}
	sc.showPrompt()
	for {
		select {
		case err := <-r.readEnd:
			return finish(err)
		case <-ctx.Done():
			return finish(r.close())
		case l, ok := <-lines:
			if !ok {
				return finish(r.close())
			}
			if op == wsframe.OpText && !wsframe.ValidUTF8([]byte(l)) {
				log.printf("not sent: the line %v", errNotUTF8)
			} else if err := conn.WriteMessage(op, []byte(l)); err != nil {
				log.printf("sending: %v", err)
			}
			sc.showPrompt()
		}
	}
}

func protocolNote(c *wsconn.Conn) string {
	if p := c.Subprotocol(); p != "" {
		return fmt.Sprintf(" (subprotocol %s)", p)
	}
	return ""
}

// screen writes to a terminal whose last row is the line being typed,
// which only the terminal knows (cooked mode): text that arrives goes in
// rows inserted above it with VT100 sequences that terminal emulators and
// the Linux console understand. For k rows: IND k times then RI k times
// (room below, the cursor back where it was, scrolling if it was on the
// last row), DECSC (save the cursor), IL k (insert k blank rows at the
// cursor's, pushing the typed line down), the rows, DECRC (the saved
// position, now the first inserted row) and IND k times (down to the
// typed line, at the same column). The text is cut into rows by the
// terminal's width, tabs expanded and control characters shown as ^X, so
// that nothing in a message moves the cursor.
//
// Windows' console interprets these sequences only when a program turns
// that on (which needs its API), so there the text goes on rows of its own
// below and the prompt is printed again: the typed line stays in the
// console's buffer and is still sent whole, but shows above the text.
type screen struct {
	mu     sync.Mutex
	w      io.Writer
	prompt string
	size   func() (width, height int)
	vt     bool // insert above; false: below, then the prompt again
	ended  bool
}

func newScreen(w io.Writer, prompt string, size func() (int, int)) *screen {
	return &screen{w: w, prompt: prompt, size: size, vt: runtime.GOOS != "windows"}
}

func (s *screen) showPrompt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		io.WriteString(s.w, s.prompt)
	}
}

// end erases the line being typed; what follows is written plainly.
func (s *screen) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		io.WriteString(s.w, "\r\x1b[K")
	}
}

// above writes text (lines separated by \n) above the line being typed.
func (s *screen) above(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	width, height := s.size()
	if s.ended {
		io.WriteString(s.w, strings.Join(layout(text, width), "\r\n")+"\r\n")
		return
	}
	rows := layout(text, width)
	if !s.vt {
		io.WriteString(s.w, "\r\n"+strings.Join(rows, "\r\n")+"\r\n"+s.prompt)
		return
	}
	batch := max(1, height-2) // the typed line must stay on the screen
	var b strings.Builder
	for len(rows) > 0 {
		k := min(batch, len(rows))
		ind := strings.Repeat("\x1bD", k)
		fmt.Fprintf(&b, "%s%s\x1b7\r\x1b[%dL%s\x1b8%s", ind, strings.Repeat("\x1bM", k), k, strings.Join(rows[:k], "\r\n"), ind)
		rows = rows[k:]
	}
	io.WriteString(s.w, b.String())
}

// writer is an io.Writer for screen.above: each write that ends with a
// newline is shown; a part without one waits for the rest (a message that
// bufio flushes in pieces).
func (s *screen) writer() io.Writer { return &aboveWriter{s: s} }

type aboveWriter struct {
	s       *screen
	pending []byte
}

func (a *aboveWriter) Write(p []byte) (int, error) {
	a.pending = append(a.pending, p...)
	if n := len(a.pending); n > 0 && a.pending[n-1] == '\n' {
		a.s.above(string(a.pending[:n-1]))
		a.pending = a.pending[:0]
	}
	return len(p), nil
}

// layout cuts text into the rows a terminal of the given width shows:
// one or more per line, tabs expanded to the next multiple of 8, control
// characters as ^X (or \u0085 for C1), wide characters counted as two
// columns.
func layout(text string, width int) []string {
	if width < 2 {
		width = 80
	}
	var rows []string
	for _, line := range strings.Split(text, "\n") {
		var b strings.Builder
		col := 0
		put := func(s string, w int) {
			if col+w > width {
				rows = append(rows, b.String())
				b.Reset()
				col = 0
			}
			b.WriteString(s)
			col += w
		}
		for _, r := range line {
			switch {
			case r == '\t':
				n := 8 - col%8
				if col+n > width {
					n = width - col
				}
				put(strings.Repeat(" ", n), n)
			case r < 0x20 || r == 0x7f:
				put(string([]rune{'^', r ^ 0x40}), 2)
			case unicode.IsControl(r): // C1
				put(fmt.Sprintf(`\u%04x`, r), 6)
			case r == utf8.RuneError:
				put("\uFFFD", 1)
			case isWide(r):
				put(string(r), 2)
			default:
				put(string(r), 1)
			}
		}
		rows = append(rows, b.String())
	}
	return rows
}

// isWide reports the runes that terminals show in two columns (East
// Asian wide and fullwidth, emoji); counting one of them as one column
// would let a row wrap onto the typed line.
func isWide(r rune) bool {
	for _, w := range wideRanges {
		if r >= w[0] && r <= w[1] {
			return true
		}
	}
	return false
}

var wideRanges = [][2]rune{
	{0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC}, {0x23F0, 0x23F0},
	{0x23F3, 0x23F3}, {0x25FD, 0x25FE}, {0x2614, 0x2615}, {0x2648, 0x2653}, {0x267F, 0x267F},
	{0x2693, 0x2693}, {0x26A1, 0x26A1}, {0x26AA, 0x26AB}, {0x26BD, 0x26BE}, {0x26C4, 0x26C5},
	{0x26CE, 0x26CE}, {0x26D4, 0x26D4}, {0x26EA, 0x26EA}, {0x26F2, 0x26F5}, {0x26FA, 0x26FD},
	{0x2705, 0x2705}, {0x270A, 0x270B}, {0x2728, 0x2728}, {0x274C, 0x274E}, {0x2753, 0x2757},
	{0x2795, 0x2797}, {0x27B0, 0x27B0}, {0x27BF, 0x27BF}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B55},
	{0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xA000, 0xA4CF},
	{0xA960, 0xA97F}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE10, 0xFE19}, {0xFE30, 0xFE6F},
	{0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x16FE0, 0x16FE4}, {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF},
	{0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251},
	{0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
	{0x20000, 0x3FFFD},
}
