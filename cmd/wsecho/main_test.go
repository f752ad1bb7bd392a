package main

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm"
)

// SIGTERM with 50 connected clients: every one gets Close 1001 and the
// process exits 0 once they have answered.
func TestSIGTERMSendsGoingAwayToEveryClient(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsecho")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
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
	var url string
	for url == "" && lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			url = m[1] + "/"
		}
	}
	if url == "" {
		t.Fatal("wsecho did not say where it listens")
	}
	go func() { // keep the pipe drained
		for lines.Scan() {
		}
	}()

	const clients = 50
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	results := make(chan error, clients)
	var ready sync.WaitGroup
	for range clients {
		c, err := wsfsm.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		// An echo proves the server runs the connection before the signal.
		if err := c.WriteMessage(wsfsm.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		ready.Add(1)
		go func() {
			_, _, err := c.ReadMessageContext(ctx)
			ready.Done()
			if err != nil {
				results <- err
				return
			}
			_, _, err = c.ReadMessageContext(ctx)
			results <- err
		}()
	}
	ready.Wait()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range clients {
		err := <-results
		var ce *wsfsm.CloseError
		if !errors.As(err, &ce) || ce.Code != wsfsm.CloseGoingAway {
			t.Errorf("a client saw %v, want close 1001", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wsecho exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wsecho did not exit after SIGTERM")
	}
}
