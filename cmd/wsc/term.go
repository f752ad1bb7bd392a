package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// isTerminal reports whether f is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// runInteractive is the client on a terminal: x/term's line editor (arrows,
// history, Ctrl-A/E/K/U/W) with a prompt that stays below what arrives.
// Ctrl-D on an empty line and Ctrl-C both close with 1000 and wait for the
// close handshake.
func runInteractive(ctx context.Context, o *options, conn *wsconn.Conn, ended <-chan struct{}, log *logger) int {
	fd := int(os.Stdin.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		log.printf("the terminal cannot go raw (%v): plain lines", err)
		return runPipe(ctx, o, conn, ended, log, os.Stdin, os.Stdout)
	}
	defer term.Restore(fd, state)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout}, "> ")
	if w, h, err := term.GetSize(fd); err == nil {
		t.SetSize(w, h)
	}
	log.setOutput(t)
	defer log.setOutput(os.Stderr)
	log.printf("connected to %s%s; Ctrl-D or Ctrl-C to close", o.url, protocolNote(conn))
	r := newClientRun(o, conn, ended, log, newMessageWriter(t, o, o.show), "< ")
	op := wsframe.OpText
	if o.binary {
		op = wsframe.OpBinary
	}
	lines := make(chan string)
	go func() {
		for {
			l, err := t.ReadLine()
			if err != nil && !errors.Is(err, term.ErrPasteIndicator) {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	// At the end the prompt goes, so that the last line is the close.
	finish := func(err error) int {
		t.SetPrompt("")
		return r.status(err, true)
	}
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
				continue
			}
			if err := conn.WriteMessage(op, []byte(l)); err != nil {
				log.printf("sending: %v", err)
			}
		}
	}
}

func protocolNote(c *wsconn.Conn) string {
	if p := c.Subprotocol(); p != "" {
		return fmt.Sprintf(" (subprotocol %s)", p)
	}
	return ""
}
