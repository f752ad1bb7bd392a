package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/wsfsm/wsfsm/wsframe"
)

// messageReader cuts an input stream (stdin, a child's stdout) into
// messages: one per line, one per NUL-terminated piece (-0), or the whole
// stream (--raw). A last piece without its separator is still a message;
// a final separator does not add an empty one.
type messageReader struct {
	r   *bufio.Reader
	sep byte
	raw bool
	op  wsframe.Opcode
	n   int // messages read, for error messages
	eof bool
}

func newMessageReader(r io.Reader, o *options) *messageReader {
	m := &messageReader{r: bufio.NewReaderSize(r, 64<<10), sep: '\n', raw: o.raw, op: wsframe.OpText}
	if o.nul {
		m.sep = 0
	}
	if o.binary {
		m.op = wsframe.OpBinary
	}
	return m
}

// errNotUTF8 stops the input: a text message must be UTF-8 (RFC 6455 §5.6),
// and a peer would close with 1007.
var errNotUTF8 = errors.New("is not valid UTF-8: a text message must be (send it as binary with -b)")

// next returns the next message, or io.EOF at the end of the input. The
// slice is the reader's own until the next call.
func (m *messageReader) next() (wsframe.Opcode, []byte, error) {
	if m.eof {
		return 0, nil, io.EOF
	}
	var p []byte
	var err error
	if m.raw {
		p, err = io.ReadAll(m.r)
		m.eof = true
		if err != nil {
			return 0, nil, err
		}
	} else {
		p, err = m.r.ReadBytes(m.sep)
		switch {
		case err == io.EOF && len(p) == 0:
			m.eof = true
			return 0, nil, io.EOF
		case err == io.EOF:
			m.eof = true
		case err != nil:
			return 0, nil, err
		default:
			p = p[:len(p)-1]
		}
	}
	m.n++
	if m.op == wsframe.OpText && !wsframe.ValidUTF8(p) {
		what := fmt.Sprintf("message %d", m.n)
		if !m.raw && m.sep == '\n' {
			what = fmt.Sprintf("line %d", m.n)
		}
		return 0, nil, fmt.Errorf("%s %w", what, errNotUTF8)
	}
	return m.op, p, nil
}

// messageWriter prints received messages: each followed by the separator
// (newline, or NUL with -0); binary ones as they are, in hex or as their
// length (--show).
type messageWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	sep  byte
	show string
}

func newMessageWriter(w io.Writer, o *options, show string) *messageWriter {
	m := &messageWriter{w: bufio.NewWriterSize(w, 64<<10), sep: '\n', show: show}
	if o.nul {
		m.sep = 0
	}
	return m
}

// write prints one message with an optional prefix and flushes it, so that
// a reader of the pipe sees each message as it arrives.
func (m *messageWriter) write(prefix string, op wsframe.Opcode, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w.WriteString(prefix)
	if op == wsframe.OpBinary {
		switch m.show {
		case showHex:
			hex.NewEncoder(m.w).Write(p)
			p = nil
		case showLen:
			fmt.Fprintf(m.w, "[binary, %d bytes]", len(p))
			p = nil
		}
	}
	m.w.Write(p)
	m.w.WriteByte(m.sep)
	return m.w.Flush()
}
