package interop

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// deflateMessages: the messages of issue 13 (0 B to 16 MiB; 4 MiB at most
// under the race detector, or when big is false), text that compresses
// like JSON does, with random letters so that it is not a run.
func deflateMessages(big bool) [][]byte {
	r := rand.New(rand.NewPCG(7692, 1))
	var out [][]byte
	sizes := []int{0, 1, 125, 126, 64 << 10, 1 << 20}
	if big && !raceEnabled {
		sizes = append(sizes, 16<<20)
	} else if big {
		sizes = append(sizes, 4<<20)
	}
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = byte('a' + r.IntN(26))
			} else {
				b[i] = `{"id":1,"name":"x"},`[i%20]
			}
		}
		out = append(out, b)
	}
	return out
}

// startWsfsmDeflate runs wsfsm's echo server accepting permessage-deflate
// on cfg's terms.
func startWsfsmDeflate(t *testing.T, cfg *handshake.DeflateConfig) string {
	return startWsfsmWith(t, server.Options{Deflate: cfg, Conn: wsconn.Options{MaxMessageSize: 32 << 20}})
}

// gorilla (EnableCompression: no context takeover both ways, fragments
// above its 4 KiB write buffer) against a wsfsm server with deflate.
func TestDeflateGorillaClient(t *testing.T) {
	url := startWsfsmDeflate(t, &handshake.DeflateConfig{})
	d := websocket.Dialer{WriteBufferSize: 4096, ReadBufferSize: 4096, EnableCompression: true}
	c, resp, err := d.DialContext(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("not negotiated: %q", ext)
	}
	c.SetReadLimit(32 << 20)
	for _, msg := range deflateMessages(true) {
		for _, op := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			if err := c.WriteMessage(op, msg); err != nil {
				t.Fatal(err)
			}
			gop, got, err := c.ReadMessage()
			if err != nil || gop != op || !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes: %v %v %d", len(msg), err, gop, len(got))
			}
		}
	}
}

// coder/websocket with and without context takeover against a wsfsm server.
func TestDeflateCoderClient(t *testing.T) {
	url := startWsfsmDeflate(t, &handshake.DeflateConfig{})
	for name, mode := range map[string]coder.CompressionMode{"takeover": coder.CompressionContextTakeover, "no takeover": coder.CompressionNoContextTakeover} {
		t.Run(name, func(t *testing.T) {
			c, resp, err := coder.Dial(ctx(t), url, &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
				t.Fatalf("not negotiated: %q", ext)
			}
			c.SetReadLimit(32 << 20)
			for round := range 2 { // the second round rides on the first's context
				for _, msg := range deflateMessages(round == 0) {
					if err := c.Write(ctx(t), coder.MessageText, msg); err != nil {
						t.Fatal(err)
					}
					typ, got, err := c.Read(ctx(t))
					if err != nil || typ != coder.MessageText || !bytes.Equal(got, msg) {
						t.Fatalf("round %d, %d bytes: %v %d", round, len(msg), err, len(got))
					}
				}
			}
			if err := c.Close(coder.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The wsfsm client offering deflate to gorilla and coder servers.
func TestDeflateWsfsmClient(t *testing.T) {
	gorillaUp := websocket.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true }}
	gorillaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := gorillaUp.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(32 << 20)
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(op, p)
		}
	}))
	defer gorillaSrv.Close()
	coderSrv := func(mode coder.CompressionMode) *httptest.Server {
		return coderEchoServer(&coder.AcceptOptions{CompressionMode: mode, CompressionThreshold: 1})
	}
	takeover, noTakeover := coderSrv(coder.CompressionContextTakeover), coderSrv(coder.CompressionNoContextTakeover)
	defer takeover.Close()
	defer noTakeover.Close()
	for name, srv := range map[string]*httptest.Server{"gorilla": gorillaSrv, "coder takeover": takeover, "coder no takeover": noTakeover} {
		t.Run(name, func(t *testing.T) {
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			c, err := wsconn.Dial(ctx(t), url, &wsconn.DialOptions{
				DeflateOffer: &handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny},
				Options:      wsconn.Options{MaxMessageSize: 32 << 20},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if !c.Compressing() {
				t.Fatal("deflate not negotiated")
			}
			for round := range 2 {
				for _, msg := range deflateMessages(round == 0) {
					if err := c.WriteMessage(wsframe.OpText, msg); err != nil {
						t.Fatal(err)
					}
					op, got, err := c.ReadMessage()
					if err != nil || op != wsframe.OpText || !bytes.Equal(got, msg) {
						t.Fatalf("round %d, %d bytes: %v %v %d", round, len(msg), err, op, len(got))
					}
				}
			}
			if err := c.Close(wsframe.CloseNormal, "bye"); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}
