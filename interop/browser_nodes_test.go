package interop

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsfsm/wsfsm/cmd/wschat/chat"
	"github.com/wsfsm/wsfsm/natsbroker"
	"github.com/wsfsm/wsfsm/natsbroker/embedded"
)

// Two chat nodes sharing one NATS server (embedded, loopback, random port),
// a browser page on each: a message typed on one appears on the other.
func TestChatTwoNodesInChromium(t *testing.T) {
	exe := chromium(t)
	began := time.Now()
	ns, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	var brokers []*natsbroker.Broker
	var urls []string
	for range 2 {
		b := natsbroker.New(natsbroker.Options{URL: ns.ClientURL(), Logf: t.Logf})
		room := &chat.Hub{Logf: t.Logf, Broker: b}
		if err := room.Open(); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(room.Handler())
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			room.Shutdown(ctx)
			srv.Close()
		}()
		brokers = append(brokers, b)
		urls = append(urls, srv.URL)
	}

	alice, bob := twoTabs(t, exe)

	// alice's page is on node A, bob's on node B.
	for i, tab := range []context.Context{alice, bob} {
		if err := chromedp.Do(tab, chromedp.Navigate(urls[i]+"/")); err != nil {
			t.Fatal(err)
		}
		if err := poll(tab, `document.getElementById("status").textContent.startsWith("open")`); err != nil {
			t.Fatalf("page on node %d: %v", i, err)
		}
	}
	// Both nodes have subscribed to the room; make sure NATS has their
	// subscriptions before anyone speaks (core NATS keeps nothing for a
	// subscription that is not there yet).
	for _, b := range brokers {
		if err := b.Flush(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	say := func(tab context.Context, name, text string) {
		t.Helper()
		if err := chromedp.Do(tab,
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.Click(chromedp.ID("join-button")),
			chromedp.WaitEnabled(chromedp.ID("send")),
			chromedp.SendKeys(chromedp.ID("text"), text),
			chromedp.Click(chromedp.ID("send")),
		); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(tab context.Context, who, want string) {
		t.Helper()
		if err := poll(tab, `document.getElementById("messages").textContent.includes(`+jsString(want)+`)`); err != nil {
			text, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("messages")))
			t.Fatalf("%s's page never showed %q: %v; messages: %q", who, want, err, text)
		}
	}
	say(alice, "alice", "hello from node A")
	seen(bob, "bob (node B)", "alice:hello from node A")
	say(bob, "bob", "and back from node B")
	seen(alice, "alice (node A)", "bob:and back from node B")
	seen(bob, "bob (node B)", "bob:and back from node B") // a node's own message, once
	t.Logf("two-node browser test took %v", time.Since(began).Round(time.Millisecond))
}
