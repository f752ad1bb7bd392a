package wsconn_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// permessage-deflate end to end over loopback: Dial offers, the server
// accepts on its terms, both Conns compress, and messages of every size
// come back intact; a server without Deflate declines and the connection
// runs uncompressed.
func TestDeflateEcho(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 7692))
	sizes := []int{0, 1, 31, 32, 125, 1000, 64 << 10, 1 << 20}
	msgs := make([][]byte, len(sizes))
	for i, n := range sizes {
		m := make([]byte, n)
		for k := range m {
			m[k] = "{\"abc\": 12}\n"[r.IntN(12)] // compressible, valid UTF-8
		}
		msgs[i] = m
	}
	for _, c := range []struct {
		name  string
		cfg   *handshake.DeflateConfig
		offer *handshake.DeflateParams
		want  string // the agreement, "" for none
	}{
		{"takeover both ways", &handshake.DeflateConfig{}, &handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny}, "permessage-deflate"},
		{"no takeover, small windows", &handshake.DeflateConfig{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ClientMaxWindowBits: 10},
			&handshake.DeflateParams{ClientMaxWindowBits: handshake.WindowBitsAny, ServerMaxWindowBits: 9},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10"},
		{"server declines", nil, &handshake.DeflateParams{}, ""},
		{"client does not offer", &handshake.DeflateConfig{}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			serverSide := make(chan bool, 1)
			e := &server.Server{Handler: server.Funcs{
				Open: func(sc *wsconn.Conn) { serverSide <- sc.Compressing() },
				Message: func(sc *wsconn.Conn, op wsframe.Opcode, data []byte) {
					sc.WriteMessage(op, data)
				},
			}, Options: server.Options{Deflate: c.cfg, Logf: func(string, ...any) {}}}
			url := serve(t, e)
			conn := dial(t, url, &wsconn.DialOptions{DeflateOffer: c.offer})
			if got := <-serverSide; got != (c.want != "") || conn.Compressing() != (c.want != "") {
				t.Fatalf("compressing: server %v, client %v; want %v", got, conn.Compressing(), c.want != "")
			}
			for round := range 2 {
				for i, m := range msgs {
					op := wsframe.OpBinary
					if i%2 == 0 {
						op = wsframe.OpText
					}
					write := conn.WriteMessage
					if round == 1 && i%3 == 0 {
						write = conn.WriteUncompressed
					}
					if err := write(op, m); err != nil {
						t.Fatal(err)
					}
					gotOp, got, err := conn.ReadMessage()
					if err != nil || gotOp != op || !bytes.Equal(got, m) {
						t.Fatalf("round %d, %d bytes: %v %d bytes back, %v", round, len(m), gotOp, len(got), err)
					}
				}
			}
			if err := conn.Close(wsframe.CloseNormal, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// serve runs s on a loopback listener until the test ends.
func serve(t *testing.T, s *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String() + "/"
}

// A peer that vanishes in the middle of a compressed message longer than
// the inflater buffers (so that a coroutine inflates it as it arrives)
// leaves nothing running: the read side's end releases the inflater.
func TestDeflateAbandonedMessageLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := &server.Server{Handler: server.Funcs{}, Options: server.Options{Deflate: &handshake.DeflateConfig{}, Logf: func(string, ...any) {}}}
	url := serve(t, srv)
	r := rand.New(rand.NewPCG(1, 2))
	msg := make([]byte, 256<<10)
	for i := range msg {
		msg[i] = byte('a' + r.IntN(26))
	}
	var zb bytes.Buffer
	w, _ := flate.NewWriter(&zb, flate.BestSpeed)
	w.Write(msg)
	w.Flush()
	z := zb.Bytes()
	for range 20 {
		c := dial(t, url, &wsconn.DialOptions{DeflateOffer: &handshake.DeflateParams{}})
		// The first fragment only, compressed and masked by hand.
		frame := wsframe.AppendFrame(nil, wsframe.Header{Rsv: wsframe.RSV1, Opcode: wsframe.OpBinary, Masked: true,
			Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(z) / 2)}, z[:len(z)/2])
		if _, err := c.NetConn().Write(frame); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		c.NetConn().Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
