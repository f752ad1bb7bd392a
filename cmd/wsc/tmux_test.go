package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// tmuxSession runs a command in a detached tmux session of its own
// (socket in a temporary directory) so the test can type into a real
// terminal and read the screen.
type tmuxSession struct {
	t    *testing.T
	bin  string
	sock string
}

func newTmux(t *testing.T, command string) *tmuxSession {
	t.Helper()
	bin, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("WSFSM_REQUIRE_TMUX") != "" {
			t.Fatal("WSFSM_REQUIRE_TMUX is set but tmux is not installed")
		}
		t.Skip("tmux not installed (apt-get install tmux); the interactive mode is tested in a real terminal. CI installs it and sets WSFSM_REQUIRE_TMUX=1")
	}
	dir, err := os.MkdirTemp("", "wsc-tmux")
	if err != nil {
		t.Fatal(err)
	}
	s := &tmuxSession{t: t, bin: bin, sock: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		exec.Command(bin, "-S", s.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	// The pane stays after wsc exits, showing its exit status.
	s.run("-f", "/dev/null", "new-session", "-d", "-s", "wsc", "-x", "100", "-y", "30",
		"sh", "-c", command+"; echo EXIT=$?; sleep 30")
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.bin, append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys types into the pane (tmux key names: Enter, Up, Left, C-d, ...).
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	s.run(append([]string{"send-keys", "-t", "wsc"}, keys...)...)
}

// screen is what the pane shows, without trailing blanks.
func (s *tmuxSession) screen() string {
	s.t.Helper()
	lines := strings.Split(s.run("capture-pane", "-p", "-t", "wsc"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// waitScreen waits until the screen matches pattern and returns it.
func (s *tmuxSession) waitScreen(pattern string) string {
	s.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := s.screen()
		if re.MatchString(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never matched %q:\n%s", pattern, sc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteractive types into wsc in a terminal: a prompt, lines sent and
// answers printed, the terminal's own line editing (Backspace, Ctrl-U), a
// message arriving while a line is half typed (it is printed above, the
// half line stays below and is still sent whole), Ctrl-D and Ctrl-C
// closing with 1000.
func TestInteractive(t *testing.T) {
	t.Parallel()
	addr := startServer(t, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, p []byte) {
		if string(p) == "later" {
			go func() {
				time.Sleep(time.Second) // "half" is on the screen by then
				c.WriteMessage(wsframe.OpText, []byte("tock\ttab"))
			}()
		}
		c.WriteMessage(op, p)
	}}, server.Options{})
	// The shell ignores the SIGINT that Ctrl-C sends to the whole
	// foreground group (trap :), so that it can print wsc's exit status.
	s := newTmux(t, "trap : INT; "+wscBin+" ws://"+addr+"/")
	s.waitScreen(`connected to ws://` + regexp.QuoteMeta(addr) + `/; Ctrl-D or Ctrl-C to close`)
	s.waitScreen(`(?m)^>$`)
	s.keys("hello", "Enter")
	s.waitScreen(`(?m)^> hello\n< hello\n>$`)
	s.keys("wrld", "BSpace", "BSpace", "BSpace", "orld", "Enter") // the terminal's editing
	s.waitScreen(`(?m)^< world$`)
	s.keys("gone", "C-u", "kept", "Enter")
	s.waitScreen(`(?m)^< kept$`)
	s.keys("later", "Enter")
	s.waitScreen(`(?m)^< later$`)
	s.keys("half")
	s.waitScreen(`(?m)^> half$`)
	// tock arrives: above the half-typed line, which stays at the bottom,
	// with its tab expanded (to column 8) rather than sent to the terminal.
	s.waitScreen(`(?m)^< later\n< tock  tab\n> half$`)
	s.keys("way", "Enter") // the line is still whole: "halfway"
	sc := s.waitScreen(`(?m)^< halfway$`)
	if strings.Contains(sc, "gone") {
		t.Fatalf("Ctrl-U did not kill the line:\n%s", sc)
	}
	s.keys("C-d")
	sc = s.waitScreen(`(?m)^EXIT=0$`)
	if !regexp.MustCompile(`(?m)^< halfway\nwsc: closed: 1000 \(normal closure\)\nEXIT=0$`).MatchString(sc) {
		t.Fatalf("Ctrl-D: want the close on its own line, where the prompt was:\n%s", sc)
	}

	// Binary messages (-b) show in hex on a screen; Ctrl-C closes with
	// 1000 too.
	s2 := newTmux(t, "trap : INT; "+wscBin+" -b ws://"+addr+"/")
	s2.waitScreen(`(?m)^>$`)
	s2.keys("xyz", "Enter")
	s2.waitScreen(`(?m)^< 78797a$`)
	s2.keys("C-c")
	sc = s2.waitScreen(`(?m)^EXIT=0$`)
	if !regexp.MustCompile(`(?m)^< 78797a\nwsc: closed: 1000 \(normal closure\)\nEXIT=0$`).MatchString(sc) {
		t.Fatalf("Ctrl-C: want the close on its own line, where the prompt was:\n%s", sc)
	}
}
