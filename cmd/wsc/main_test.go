package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// The tests drive the binaries as a user would: wsc and wsecho are built
// once, run with os/exec against servers on 127.0.0.1, every run bounded.
var wscBin, wsechoBin string

// TestMain builds both binaries with one go build (one package load, the
// links in parallel), without -race even under -race: a race-built process
// takes up to a second to start on a loaded machine and the tests start
// dozens, which tripled the package's time (36 s against 10 s); the
// race detector still checks the tests' own goroutines and servers.
// WSC_TEST_RACE=1 builds them with -race, to race-check wsc itself.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsc-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wscBin = filepath.Join(dir, "wsc")
	wsechoBin = filepath.Join(dir, "wsecho")
	args := []string{"build"}
	if os.Getenv("WSC_TEST_RACE") != "" {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator), ".", "../wsecho")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runTimeout bounds every run of the binary.
const runTimeout = 15 * time.Second

type result struct {
	stdout, stderr string
	code           int
}

// wsc runs the client with stdin and returns what it printed and its exit
// status.
func wsc(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, wscBin, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("wsc %q did not end within %v; stderr:\n%s", args, runTimeout, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// openStdin is a stdin that gives data and then stays open until the
// test ends.
func openStdin(t *testing.T, data string) io.Reader {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); r.Close() })
	go w.Write([]byte(data))
	return r
}

// startEcho runs cmd/wsecho on a free loopback port.
func startEcho(t *testing.T, args ...string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(wsechoBin, append([]string{"-addr", addr}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				if attempt < 3 { // the port was taken meanwhile
					goto retry
				}
				t.Fatal("wsecho exited")
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return addr
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("wsecho did not start listening")
	retry:
	}
}

// startServer runs an in-process server.Server with h on 127.0.0.1:0.
func startServer(t *testing.T, h server.Handler, o server.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Logf = func(string, ...any) {}
	srv := &server.Server{Handler: h, Options: o}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout: %q\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func wantStdout(t *testing.T, r result, want string) {
	t.Helper()
	if r.stdout != want {
		t.Fatalf("stdout %q, want %q\nstderr:\n%s", r.stdout, want, r.stderr)
	}
}

func wantStderr(t *testing.T, r result, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(r.stderr) {
		t.Fatalf("stderr does not match %q:\n%s", pattern, r.stderr)
	}
}

func TestPipeText(t *testing.T) {
	t.Parallel()
	addr := startEcho(t)
	r := wsc(t, strings.NewReader("hello\nworld\n"), "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "hello\nworld\n")
	if r.stderr != "" {
		t.Fatalf("a clean run prints nothing on stderr, got:\n%s", r.stderr)
	}
	// A last line without its newline is still a message; empty lines are
	// empty messages; no newline at the end adds none.
	r = wsc(t, strings.NewReader("a\n\nlast"), "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "a\n\nlast\n")
	// Text must be UTF-8: the line is refused before it reaches the peer.
	r = wsc(t, strings.NewReader("ok\n\xff\xfe\nnever\n"), "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStdout(t, r, "ok\n")
	wantStderr(t, r, `line 2 is not valid UTF-8`)
}

func TestPipeBinary(t *testing.T) {
	t.Parallel()
	addr := startEcho(t)
	in := "\xff\x00\xfe\nsecond\n"
	r := wsc(t, strings.NewReader(in), "-b", "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, in)
	r = wsc(t, strings.NewReader(in), "--binary", "--show", "hex", "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "ff00fe\n7365636f6e64\n")
	r = wsc(t, strings.NewReader(in), "ws://"+addr+"/", "-b", "--show=len")
	wantCode(t, r, 0)
	wantStdout(t, r, "[binary, 3 bytes]\n[binary, 6 bytes]\n")
}

func TestPipeNULSeparated(t *testing.T) {
	t.Parallel()
	addr := startEcho(t)
	r := wsc(t, strings.NewReader("two\nlines\x00third\x00"), "-0", "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "two\nlines\x00third\x00")
}

func TestPipeRaw(t *testing.T) {
	t.Parallel()
	addr := startEcho(t)
	r := wsc(t, strings.NewReader("one\ntwo\n"), "--raw", "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "one\ntwo\n\n")
}

func TestPipeLargeMessages(t *testing.T) {
	t.Parallel()
	addr := startEcho(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	in := append(append(append([]byte("small\n"), big...), '\n'), "end\n"...)
	r := wsc(t, bytes.NewReader(in), "ws://"+addr+"/")
	wantCode(t, r, 0)
	if r.stdout != string(in) {
		t.Fatalf("3 MiB line: got %d bytes back, want %d", len(r.stdout), len(in))
	}
	// Over --max-message, the echo is refused with 1009.
	r = wsc(t, bytes.NewReader(in), "--max-message", "1M", "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `ErrFrameTooBig|ErrMessageTooBig`)
	wantStderr(t, r, `1009`)
	if !strings.HasPrefix(r.stdout, "small\n") || strings.Contains(r.stdout, "end") {
		t.Fatalf("stdout %q: want the small echo only", r.stdout[:min(len(r.stdout), 40)])
	}
}

// TestStdinEndsEarly: stdin ends before the answers arrive; they are still
// printed, since the client waits for the close handshake.
func TestStdinEndsEarly(t *testing.T) {
	t.Parallel()
	addr := startServer(t, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, p []byte) {
		time.Sleep(200 * time.Millisecond)
		c.WriteMessage(op, append([]byte("late "), p...))
	}}, server.Options{})
	r := wsc(t, strings.NewReader("a\nb\n"), "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "late a\nlate b\n")
	// Nothing at all to send: a clean close.
	r = wsc(t, strings.NewReader(""), "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "")
}

func TestPeerClosesWithPolicyViolation(t *testing.T) {
	t.Parallel()
	addr := startServer(t, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, p []byte) {
		c.WriteMessage(op, p)
		go c.Close(wsframe.ClosePolicyViolation, "no more")
	}}, server.Options{})
	// stdin stays open: the close is the server's.
	r := wsc(t, openStdin(t, "first\n"), "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStdout(t, r, "first\n")
	wantStderr(t, r, `closed by the peer: 1008 \(policy violation\) "no more"`)
}

func TestHandshakeRefused(t *testing.T) {
	t.Parallel()
	// 404 from a net/http server that upgrades on /ws only.
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, nil)
		if err == nil {
			server.ServeConn(c, server.Funcs{})
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	u := "ws" + strings.TrimPrefix(hs.URL, "http")
	r := wsc(t, strings.NewReader("x\n"), u+"/nope")
	wantCode(t, r, 1)
	wantStderr(t, r, `handshake refused: HTTP 404 Not Found: 404 page not found\n`)
	r = wsc(t, strings.NewReader("x\n"), u+"/ws")
	wantCode(t, r, 0)
	wantStdout(t, r, "")

	// 403 for a foreign Origin from the raw server (same-origin by default).
	addr := startServer(t, server.Funcs{}, server.Options{})
	r = wsc(t, strings.NewReader("x\n"), "--origin", "http://evil.example", "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `handshake refused: HTTP 403 Forbidden: .*[Oo]rigin`)
	// With -v the heads are shown, the refusal's included.
	r = wsc(t, strings.NewReader("x\n"), "-v", "--origin", "http://evil.example", "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `(?m)^wsc: > Origin: http://evil.example$`)
	wantStderr(t, r, `(?m)^wsc: < HTTP/1.1 403 Forbidden$`)
	// Nobody listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	r = wsc(t, strings.NewReader(""), "ws://"+dead+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `connection refused`)
}

// TestHeadersProtocolsVerbose: -H and --protocol reach the server, and -v
// shows both heads.
func TestHeadersProtocolsVerbose(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, &server.Options{Protocols: []string{"chat.v2"}})
		if err != nil {
			return
		}
		c.WriteMessage(wsframe.OpText, []byte(r.Header.Get("X-Token")+" "+r.Header.Get("X-Other")+" "+c.Subprotocol()))
		server.ServeConn(c, server.Funcs{})
	}))
	t.Cleanup(hs.Close)
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/path?q=1"
	r := wsc(t, strings.NewReader(""), "-v", "-H", "X-Token: abc", "--header=X-Other:  two words ",
		"--protocol", "chat.v1", "-p", "chat.v2", u)
	wantCode(t, r, 0)
	wantStdout(t, r, "abc two words chat.v2\n")
	for _, p := range []string{`(?m)^wsc: > GET /path\?q=1 HTTP/1.1$`, `(?m)^wsc: > X-Token: abc$`,
		`(?m)^wsc: > Sec-WebSocket-Protocol: chat.v1, chat.v2$`, `(?m)^wsc: < HTTP/1.1 101 Switching Protocols$`,
		`(?m)^wsc: < Sec-WebSocket-Protocol: chat.v2$`, `closed: 1000`} {
		wantStderr(t, r, p)
	}
	if strings.Contains(r.stderr, "@0") {
		t.Fatalf("-v shows heads only, not frames:\n%s", r.stderr)
	}
}

// startWsc runs wsc in server mode and returns its address, a writer to
// its stdin and a reader of its stdout lines.
type wscServer struct {
	cmd    *exec.Cmd
	addr   string
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWsc(t *testing.T, args ...string) *wscServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	cmd := exec.CommandContext(ctx, wscBin, append([]string{"-l", "127.0.0.1:0"}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderrPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &wscServer{cmd: cmd, stdin: stdin, lines: make(chan string, 100), stderr: &syncBuffer{}}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		re := regexp.MustCompile(`listening on ws://(\S+)`)
		for sc.Scan() {
			fmt.Fprintln(s.stderr, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	select {
	case s.addr = <-addrc:
	case <-time.After(5 * time.Second):
		t.Fatalf("wsc -l did not say where it listens:\n%s", s.stderr)
	}
	return s
}

func (s *wscServer) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatalf("wsc -l stdout ended; stderr:\n%s", s.stderr)
		}
		return l
	case <-time.After(5 * time.Second):
		t.Fatalf("no line from wsc -l; stderr:\n%s", s.stderr)
	}
	return ""
}

func dialT(t *testing.T, url string) *wsconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readT(t *testing.T, c *wsconn.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, p, err := c.ReadMessageContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestServerTwoClients(t *testing.T) {
	t.Parallel()
	s := startWsc(t)
	a := dialT(t, "ws://"+s.addr+"/")
	a.WriteMessage(wsframe.OpText, []byte("alone"))
	if l := s.line(t); l != "alone" {
		t.Fatalf("one client: %q, want no prefix", l)
	}
	b := dialT(t, "ws://"+s.addr+"/")
	b.WriteMessage(wsframe.OpText, []byte("from b"))
	if l := s.line(t); l != "[2] from b" {
		t.Fatalf("second client: %q", l)
	}
	a.WriteMessage(wsframe.OpText, []byte("from a"))
	if l := s.line(t); l != "[1] from a" {
		t.Fatalf("first client: %q", l)
	}
	// A stdin line goes to both.
	io.WriteString(s.stdin, "to all\n")
	if m := readT(t, a); m != "to all" {
		t.Fatalf("a got %q", m)
	}
	if m := readT(t, b); m != "to all" {
		t.Fatalf("b got %q", m)
	}
	if err := b.Close(wsframe.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.stderr, `\[2\] closed: 1000`)
	a.WriteMessage(wsframe.OpText, []byte("alone again"))
	if l := s.line(t); l != "alone again" {
		t.Fatalf("one client left: %q", l)
	}
}

func waitFor(t *testing.T, b *syncBuffer, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(5 * time.Second)
	for !re.MatchString(b.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never matched %q:\n%s", pattern, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerEchoWithClient(t *testing.T) {
	t.Parallel()
	s := startWsc(t, "--echo", "--protocol", "p1")
	r := wsc(t, strings.NewReader("one\ntwo\n"), "ws://"+s.addr+"/", "--protocol", "p1")
	wantCode(t, r, 0)
	wantStdout(t, r, "one\ntwo\n")
	waitFor(t, s.stderr, `\[1\] open from 127\.0\.0\.1:\d+ \(subprotocol p1\)`)
	// Origins: allowed when listed, refused otherwise.
	s = startWsc(t, "--echo", "--origin", "https://app.example")
	r = wsc(t, strings.NewReader("x\n"), "--origin", "https://app.example", "ws://"+s.addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "x\n")
	r = wsc(t, strings.NewReader("x\n"), "--origin", "https://other.example", "ws://"+s.addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `HTTP 403`)
}

func TestServerExecCat(t *testing.T) {
	t.Parallel()
	s := startWsc(t, "--exec", "cat")
	// Streaming: each answer comes back before the next message is sent.
	c := dialT(t, "ws://"+s.addr+"/")
	for _, m := range []string{"first", "second", "third"} {
		c.WriteMessage(wsframe.OpText, []byte(m))
		if got := readT(t, c); got != m {
			t.Fatalf("cat gave %q for %q", got, m)
		}
	}
	if err := c.Close(wsframe.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.stderr, `\[1\] closed: 1000`)
}

// TestServerExecTr: tr, like most programs whose stdout is a pipe, writes
// when its buffer fills or its input ends. stdbuf -oL makes it answer line
// by line; a command that ends by itself has its whole output sent, then
// Close 1000 (1011 when it fails).
func TestServerExecTr(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("stdbuf"); err != nil {
		t.Skip("stdbuf (coreutils) not found")
	}
	s := startWsc(t, "--exec", "stdbuf -oL tr a-z A-Z")
	c := dialT(t, "ws://"+s.addr+"/")
	for _, m := range []string{"hello", "world"} {
		c.WriteMessage(wsframe.OpText, []byte(m))
		if got, want := readT(t, c), strings.ToUpper(m); got != want {
			t.Fatalf("tr gave %q, want %q", got, want)
		}
	}

	// With --pty, tr's stdout is a terminal: plain tr answers each line.
	if runtime.GOOS == "linux" {
		s = startWsc(t, "--exec", "tr a-z A-Z", "--pty")
		c = dialT(t, "ws://"+s.addr+"/")
		for _, m := range []string{"hello", "world"} {
			c.WriteMessage(wsframe.OpText, []byte(m))
			if got, want := readT(t, c), strings.ToUpper(m); got != want {
				t.Fatalf("tr under --pty gave %q, want %q", got, want)
			}
		}
		if err := c.Close(wsframe.CloseNormal, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, s.stderr, `\[1\] closed: 1000`)
		// A command that writes and exits: all of its output arrives
		// (the pseudo-terminal's end is not its loss).
		s = startWsc(t, "--exec", "seq 1 500", "--pty")
		r := wsc(t, openStdin(t, ""), "ws://"+s.addr+"/")
		wantCode(t, r, 0)
		if want := seq(500); r.stdout != want {
			t.Fatalf("seq 1 500 under --pty: got %d bytes, want %d", len(r.stdout), len(want))
		}
	}

	// Plain tr: its input ends after two lines (head), then all of its
	// output goes out, then the Close. The wsc client's stdin stays open:
	// the end is the server's.
	s = startWsc(t, "--exec", "head -n 2 | tr a-z A-Z")
	r := wsc(t, openStdin(t, "hello\nworld\n"), "ws://"+s.addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, "HELLO\nWORLD\n")

	s = startWsc(t, "--exec", "echo partial; exit 3")
	r = wsc(t, openStdin(t, ""), "ws://"+s.addr+"/")
	wantCode(t, r, 1)
	wantStdout(t, r, "partial\n")
	wantStderr(t, r, `1011 \(internal error\) ".*exit status 3"`)
}

// TestSignals: SIGINT makes a client close with 1000 and a server send
// 1001 to every client; both exit 0.
func TestSignals(t *testing.T) {
	t.Parallel()
	s := startWsc(t)
	client := func() (*exec.Cmd, *syncBuffer, chan error) {
		cmd := exec.Command(wscBin, "-v", "ws://"+s.addr+"/")
		cmd.Stdin = openStdin(t, "")
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		waitFor(t, stderr, `< HTTP/1.1 101`)
		return cmd, stderr, done
	}
	wait := func(done chan error, stderr *syncBuffer) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no exit\n%s", stderr)
		}
	}
	cmd, stderr, done := client()
	cmd.Process.Signal(os.Interrupt)
	wait(done, stderr)
	waitFor(t, s.stderr, `\[1\] closed: 1000 \(normal closure\)`)

	// The server: its client hears 1001.
	_, stderr, done = client()
	waitFor(t, s.stderr, `\[2\] open`)
	sigServer(t, s)
	wait(done, stderr)
	if !strings.Contains(stderr.String(), "closed: 1001 (going away)") {
		t.Fatalf("client stderr:\n%s", stderr)
	}
}

// sigServer interrupts wsc -l and waits for it to say it shuts down.
func sigServer(t *testing.T, s *wscServer) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	waitFor(t, s.stderr, `shutting down: Close 1001 to every client`)
}

func seq(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// --deflate: the client offers permessage-deflate, wsecho -deflate accepts
// it, messages come back intact, and -vv shows the compressed frames (RSV1)
// both ways.
func TestPipeDeflate(t *testing.T) {
	t.Parallel()
	addr := startEcho(t, "-deflate")
	line := strings.Repeat(`{"type":"tick","price":101.25}`, 20)
	r := wsc(t, strings.NewReader(line+"\n"+line+"\n"), "--deflate", "-vv", "ws://"+addr+"/")
	wantCode(t, r, 0)
	wantStdout(t, r, line+"\n"+line+"\n")
	wantStderr(t, r, "permessage-deflate")
	if n := strings.Count(r.stderr, "rsv=100"); n < 4 {
		t.Errorf("%d compressed frames in the trace, want the two messages each way:\n%s", n, r.stderr)
	}
	// Without the flag nothing is offered, and nothing is compressed.
	r = wsc(t, strings.NewReader(line+"\n"), "-vv", "ws://"+addr+"/")
	wantCode(t, r, 0)
	if strings.Contains(r.stderr, "rsv=100") || strings.Contains(r.stderr, "permessage-deflate") {
		t.Errorf("compression without --deflate:\n%s", r.stderr)
	}
}
