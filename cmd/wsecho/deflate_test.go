package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm"
	"github.com/wsfsm/wsfsm/handshake"
)

// startEcho builds wsecho, runs it with args on a free loopback port and
// returns its URL.
func startEcho(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsecho")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	listening := regexp.MustCompile(`listening on (ws://\S+)`)
	for lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			go func() { // keep the pipe drained
				for lines.Scan() {
				}
			}()
			return m[1] + "/"
		}
	}
	t.Fatal("wsecho did not say where it listens")
	return ""
}

// -deflate: an offer is accepted and compressed echoes come back intact;
// without the flag the offer is declined.
func TestDeflateFlag(t *testing.T) {
	for _, on := range []bool{true, false} {
		var args []string
		if on {
			args = []string{"-deflate"}
		}
		url := startEcho(t, args...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := wsfsm.Dial(ctx, url, &wsfsm.DialOptions{DeflateOffer: &wsfsm.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if c.Compressing() != on {
			t.Fatalf("-deflate %v: compressing %v", on, c.Compressing())
		}
		for _, n := range []int{0, 10, 100, 5000, 300000} {
			msg := bytes.Repeat([]byte(`{"k":"v"},`), n)[:n]
			if err := c.WriteMessage(wsfsm.TextMessage, msg); err != nil {
				t.Fatal(err)
			}
			if op, got, err := c.ReadMessage(); err != nil || op != wsfsm.TextMessage || !bytes.Equal(got, msg) {
				t.Fatalf("-deflate %v, %d bytes: %v %d", on, n, err, len(got))
			}
		}
		c.Close(wsfsm.CloseNormal, "")
	}
}
