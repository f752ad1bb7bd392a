package interop

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
)

// chromium finds the browser: $CHROMIUM, else Debian's /usr/bin/chromium.
func chromium(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const how = "no Chromium: install it with `apt-get install chromium` (Debian) or set CHROMIUM to its path"
	if os.Getenv("WSFSM_REQUIRE_BROWSER") != "" {
		t.Fatal(how) // CI installs it: there a skip would hide a broken setup
	}
	t.Skip(how)
	return ""
}

// The demo in a real browser: two pages open, chat, render hostile text as
// text, and show the close when the server stops.
func TestChatInChromium(t *testing.T) {
	exe := chromium(t)
	began := time.Now()
	hub := &chat.Hub{Logf: t.Logf}
	srv := httptest.NewServer(hub.Handler()) // 127.0.0.1, a free port
	defer srv.Close()

	alice, bob := twoTabs(t, exe)

	waitStatus := func(tab context.Context, want string) {
		t.Helper()
		err := poll(tab, `document.getElementById("status").textContent.startsWith(`+jsString(want)+`)`)
		if err != nil {
			got, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			t.Fatalf("status %q, waiting for %q: %v", got, want, err)
		}
	}
	for _, tab := range []context.Context{alice, bob} {
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		waitStatus(tab, "open")
		ext, err := chromedp.Run(tab, chromedp.Evaluate[string](`ws.extensions`))
		if err != nil || !strings.Contains(ext, "permessage-deflate") {
			t.Errorf("negotiated extensions %q (%v), want permessage-deflate", ext, err)
		}
	}
	join := func(tab context.Context, name string) {
		t.Helper()
		if err := chromedp.Do(tab,
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.Click(chromedp.ID("join-button")),
		); err != nil {
			t.Fatal(err)
		}
	}
	join(alice, "alice")
	join(bob, "bob")
	hostile := `hi bob <script>window.pwned=1</script><img src=x onerror="window.pwned=2">`
	if err := chromedp.Do(alice,
		chromedp.WaitEnabled(chromedp.ID("send")),
		chromedp.SendKeys(chromedp.ID("text"), hostile),
		chromedp.Click(chromedp.ID("send")),
	); err != nil {
		t.Fatal(err)
	}
	if err := poll(bob, `document.getElementById("messages").textContent.includes(`+jsString("alice:"+hostile)+`)`); err != nil {
		text, _ := chromedp.Run(bob, chromedp.Text(chromedp.ID("messages")))
		t.Fatalf("bob did not see alice's message: %v; messages: %q", err, text)
	}
	injected, err := chromedp.Run(bob, chromedp.Evaluate[bool](`document.querySelectorAll("#messages script, #messages img").length > 0 || window.pwned !== undefined`))
	if err != nil {
		t.Fatal(err)
	}
	if injected {
		t.Fatal("the message was rendered as HTML")
	}

	// The screenshots outlive the test (t.TempDir would remove them), so
	// that the paths in the log can be opened; WSCHAT_SCREENSHOTS picks
	// the directory.
	dir := os.Getenv("WSCHAT_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "wschat-screenshots-"); err != nil {
			t.Fatal(err)
		}
	}
	for name, tab := range map[string]context.Context{"alice": alice, "bob": bob} {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "wschat-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// Stop the server: both pages show the close, code 1001.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, tab := range []context.Context{alice, bob} {
		waitStatus(tab, "closed: 1001 server shutting down")
	}
	t.Logf("browser test took %v", time.Since(began).Round(time.Millisecond))
}

// browser starts headless Chromium (exe) with the flags every browser test
// uses, and extra ones.
func browser(t *testing.T, exe string, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 640),
	)
	return chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
}

// twoTabs starts Chromium (with browser's flags and extra ones) and opens
// two tabs in it, all closed when the test ends (at most 90 s).
func twoTabs(t *testing.T, exe string, extra ...chromedp.ExecAllocatorOption) (alice, bob context.Context) {
	t.Helper()
	allocCtx, cancelAlloc := browser(t, exe, extra...)
	ctx, cancelTimeout := context.WithTimeout(allocCtx, 90*time.Second)
	alice, cancelAlice := chromedp.NewContext(ctx)
	t.Cleanup(func() { cancelAlice(); cancelTimeout(); cancelAlloc() })
	if err := chromedp.Do(alice); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	bob, cancelBob := chromedp.NewContext(alice) // a second tab of that browser
	t.Cleanup(cancelBob)
	return alice, bob
}

// poll waits (20 s at most) until predicate, a JavaScript expression, is
// true in tab.
func poll(tab context.Context, predicate string) error {
	_, err := chromedp.Run(tab, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(20*time.Second)))
	return err
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
