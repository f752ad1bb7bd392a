package interop

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// deflatePage opens a WebSocket, sends text and binary messages from 0 B to
// 1 MiB (JSON-like, non-ASCII included) and checks every echo; it leaves
// the outcome in window.result and the negotiated extensions in
// window.ext.
const deflatePage = `<!doctype html><meta charset="utf-8"><script>
const sizes = [0, 1, 125, 126, 1000, 65536, 1048576];
function text(n, k) {
  const unit = '{"id":' + k + ',"name":"héllo ✓","tags":["a","b"]},';
  let s = unit.repeat(Math.ceil(n / unit.length) + 1);
  return Array.from(s).slice(0, n).join("");
}
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.binaryType = "arraybuffer";
const sent = [];
ws.onopen = () => {
  window.ext = ws.extensions;
  sizes.forEach((n, k) => {
    const t = text(n, k); sent.push(t); ws.send(t);
    const b = new Uint8Array(n).map((_, i) => (i * 7 + k) % 251); sent.push(b); ws.send(b);
  });
};
let got = 0;
ws.onmessage = (e) => {
  const want = sent[got++];
  let ok;
  if (typeof want === "string") ok = e.data === want;
  else { const a = new Uint8Array(e.data); ok = a.length === want.length && a.every((v, i) => v === want[i]); }
  if (!ok) { window.result = "message " + (got - 1) + " differs"; ws.close(); return; }
  if (got === sent.length) { window.result = "ok"; ws.close(1000); }
};
ws.onclose = (e) => { if (window.result === undefined) window.result = "closed " + e.code; };
</script>`

// Chromium offers permessage-deflate with context takeover and
// client_max_window_bits; the wsfsm server accepts it, and every message
// both ways (Chromium compresses, the server compresses its echoes) comes
// back intact.
func TestDeflateInChromium(t *testing.T) {
	exe := chromium(t)
	var compressing, messages atomic.Int32
	opts := &server.Options{Deflate: &handshake.DeflateConfig{}, Conn: wsconn.Options{MaxMessageSize: 4 << 20}, Logf: t.Logf}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(deflatePage))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		if c.Compressing() {
			compressing.Add(1)
		}
		server.ServeConn(c, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			messages.Add(1)
			c.WriteMessage(op, data)
		}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	allocCtx, cancelAlloc := browser(t, exe)
	defer cancelAlloc()
	ctx, cancel := context.WithTimeout(allocCtx, 90*time.Second)
	defer cancel()
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`window.result !== undefined`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	result, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.result`))
	if err != nil {
		t.Fatal(err)
	}
	ext, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.ext || ""`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ext, "permessage-deflate") || compressing.Load() != 1 {
		t.Fatalf("extensions %q, server compressing %d", ext, compressing.Load())
	}
	if result != "ok" || messages.Load() != 14 {
		t.Fatalf("page: %s; the server echoed %d messages", result, messages.Load())
	}
	t.Logf("Chromium negotiated %q; 14 messages echoed", ext)
}
