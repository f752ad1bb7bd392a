package interop

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

// The chat over https in Chromium: the browser opens each page's WebSocket
// as a stream of the page's HTTP/2 connection (RFC 8441 extended CONNECT),
// which the server confirms from the requests its handler saw; the pages
// then chat as over HTTP/1.1, with permessage-deflate negotiated.
//
// net/http offers extended CONNECT only when the process starts with
// GODEBUG=http2xconnect=1 (Go 1.26), so the test runs again in a child
// process of the test binary with it set.
func TestChatOverHTTP2InChromium(t *testing.T) {
	exe := chromium(t)
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		godebug := "http2xconnect=1"
		if g := os.Getenv("GODEBUG"); g != "" {
			godebug = g + "," + godebug
		}
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=3m")
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
			t.Fatalf("child process with GODEBUG=%s: %v\n%s", godebug, err, out)
		}
		t.Logf("child process with GODEBUG=%s:\n%s", godebug, out)
		return
	}

	began := time.Now()
	var mu sync.Mutex
	var upgrades []string
	hub := &chat.Hub{Logf: t.Logf, OnUpgrade: func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		upgrades = append(upgrades, r.Proto+" "+r.Method)
	}}
	srv := httptest.NewUnstartedServer(hub.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS() // 127.0.0.1, a free port, a self-signed certificate
	defer srv.Close()

	alice, bob := twoTabs(t, exe, chromedp.Flag("ignore-certificate-errors", true))
	for _, tab := range []context.Context{alice, bob} {
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if err := poll(tab, `document.getElementById("status").textContent.startsWith("open")`); err != nil {
			got, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			t.Fatalf("status %q: %v", got, err)
		}
		ext, err := chromedp.Run(tab, chromedp.Evaluate[string](`ws.extensions`))
		if err != nil || !strings.Contains(ext, "permessage-deflate") {
			t.Errorf("negotiated extensions %q (%v), want permessage-deflate", ext, err)
		}
	}
	mu.Lock()
	seen := append([]string(nil), upgrades...)
	mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d WebSockets upgraded, want 2: %q", len(seen), seen)
	}
	for _, u := range seen {
		if u != "HTTP/2.0 CONNECT" {
			t.Errorf("a page's WebSocket arrived as %q, want an HTTP/2 extended CONNECT", u)
		}
	}
	for tab, name := range map[context.Context]string{alice: "alice", bob: "bob"} {
		if err := chromedp.Do(tab,
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.Click(chromedp.ID("join-button")),
		); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(alice,
		chromedp.WaitEnabled(chromedp.ID("send")),
		chromedp.SendKeys(chromedp.ID("text"), "over one connection"),
		chromedp.Click(chromedp.ID("send")),
	); err != nil {
		t.Fatal(err)
	}
	if err := poll(bob, `document.getElementById("messages").textContent.includes("alice:over one connection")`); err != nil {
		text, _ := chromedp.Run(bob, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("bob did not see alice's message: %v; messages: %q", err, text)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []context.Context{alice, bob} {
		if err := poll(tab, `document.getElementById("status").textContent.startsWith("closed: 1001")`); err != nil {
			got, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			t.Fatalf("after the stop the page shows %q: %v", got, err)
		}
	}
	t.Logf("HTTP/2 browser test took %v", time.Since(began).Round(time.Millisecond))
}
