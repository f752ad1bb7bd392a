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

func countLines(screen, line string) int {
	n := 0
	for _, l := range strings.Split(screen, "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// TestInteractive types into wsc in a terminal: a prompt, lines sent and
// answers printed, history (Up), line editing (Left), a message arriving
// while a line is half typed (the line stays), Ctrl-D and Ctrl-C closing
// with 1000.
func TestInteractive(t *testing.T) {
	t.Parallel()
	addr := startServer(t, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, p []byte) {
		if string(p) == "later" {
			go func() {
				time.Sleep(time.Second) // "half" is on the screen by then
				c.WriteMessage(wsframe.OpText, []byte("tock"))
			}()
		}
		c.WriteMessage(op, p)
	}}, server.Options{})
	s := newTmux(t, wscBin+" ws://"+addr+"/")
	s.waitScreen(`connected to ws://` + regexp.QuoteMeta(addr) + `/; Ctrl-D or Ctrl-C to close`)
	s.waitScreen(`(?m)^>$`)
	s.keys("hello", "Enter")
	s.waitScreen(`(?m)^< hello$`)
	s.keys("Up", "Enter") // history
	if sc := s.waitScreen(`(?m)^< hello\n(> hello\n)?< hello$|(?s)< hello.*< hello`); countLines(sc, "< hello") != 2 {
		t.Fatalf("Up Enter did not send hello again:\n%s", sc)
	}
	s.keys("wrld", "Left", "Left", "Left", "o", "Enter") // editing
	s.waitScreen(`(?m)^< world$`)
	s.keys("later", "Enter")
	s.waitScreen(`(?m)^< later$`)
	s.keys("half")
	s.waitScreen(`(?m)^> half$`)
	sc := s.waitScreen(`(?m)^< tock$`)
	if !regexp.MustCompile(`(?m)^< tock\n> half$`).MatchString(sc) {
		t.Fatalf("the half-typed line is not below the message that arrived:\n%s", sc)
	}
	s.keys("C-u", "C-d")
	s.waitScreen(`wsc: closed: 1000 \(normal closure\)`)
	s.waitScreen(`(?m)^EXIT=0$`)

	// Binary messages (-b) show in hex on a screen; Ctrl-C closes with
	// 1000 too.
	s2 := newTmux(t, wscBin+" -b ws://"+addr+"/")
	s2.waitScreen(`(?m)^>$`)
	s2.keys("xyz", "Enter")
	s2.waitScreen(`(?m)^< 78797a$`)
	s2.keys("C-c")
	s2.waitScreen(`wsc: closed: 1000 \(normal closure\)`)
	s2.waitScreen(`(?m)^EXIT=0$`)
}
