package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm"
)

// startTinyproxy runs Debian's tinyproxy on a loopback port, asking for
// Basic credentials, and returns its address.
func startTinyproxy(t *testing.T, user, password string) string {
	t.Helper()
	exe, err := exec.LookPath("tinyproxy")
	if err != nil {
		const how = "no tinyproxy: install it with `apt-get install tinyproxy` (Debian)"
		if os.Getenv("WSFSM_REQUIRE_PROXY") != "" {
			t.Fatal(how) // CI installs it: there a skip would hide a broken setup
		}
		t.Skip(how)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for it
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "tinyproxy.conf")
	// No ConnectPort line: CONNECT may reach any port (the echo server's).
	os.WriteFile(conf, fmt.Appendf(nil, "Port %s\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth %s %s\nLogLevel Connect\n", port, user, password), 0o644)
	cmd := exec.Command(exe, "-d", "-c", conf)
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case logs <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			var out []string
			for len(logs) > 0 {
				out = append(out, <-logs)
			}
			t.Fatalf("tinyproxy did not listen on %s:\n%s", addr, strings.Join(out, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dial through a real HTTP proxy (tinyproxy, CONNECT tunnel, Basic
// credentials from the proxy URL): echoes come back; wrong credentials are
// the proxy's refusal, not a WebSocket error.
func TestDialThroughTinyproxy(t *testing.T) {
	proxy := startTinyproxy(t, "alice", "s3cret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsfsm.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(op, msg)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	target := "ws://" + ln.Addr().String() + "/"

	dial := func(user string) (*wsfsm.Conn, error) {
		pu := &url.URL{Scheme: "http", Host: proxy, User: url.UserPassword(user, "s3cret")}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return wsfsm.Dial(ctx, target, &wsfsm.DialOptions{Proxy: http.ProxyURL(pu)})
	}
	c, err := dial("alice")
	if err != nil {
		t.Fatalf("dial through tinyproxy: %v", err)
	}
	defer c.CloseNow()
	for i := range 100 {
		want := fmt.Sprintf("through the proxy %d", i)
		if err := c.WriteMessage(wsfsm.TextMessage, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(); err != nil || string(got) != want {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
	}
	if err := c.Close(wsfsm.CloseNormal, ""); err != nil {
		t.Errorf("close through the proxy: %v", err)
	}

	_, err = dial("mallory")
	var he *wsfsm.HandshakeError
	// tinyproxy refuses a CONNECT with 401 (a plain request gets 407).
	if err == nil || errors.As(err, &he) || !strings.Contains(err.Error(), "CONNECT") ||
		!strings.Contains(err.Error(), " 401 ") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("wrong proxy credentials: %v, want the proxy's refusal", err)
	}
}
