package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/internal/seeded"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// recorder is a net.Conn that keeps what is written to it and reads EOF.
type recorder struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (r *recorder) Read([]byte) (int, error) { return 0, errors.New("recorder: no input") }
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.Write(p)
}
func (r *recorder) Close() error                     { return nil }
func (r *recorder) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (r *recorder) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (r *recorder) SetDeadline(time.Time) error      { return nil }
func (r *recorder) SetReadDeadline(time.Time) error  { return nil }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }
func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.b.Bytes()...)
}

func seededProperties(t *testing.T, n int) *gopter.Properties {
	return gopter.NewProperties(seeded.Parameters(t, "./wsconn", n))
}

// On a server connection, writing a prepared message puts on the wire
// exactly the bytes WriteMessage puts there, at every length encoding (7-bit,
// 16-bit, 64-bit), and the same bytes on every connection.
func TestPreparedMessageIsWriteMessagesFrame(t *testing.T) {
	props := seededProperties(t, 300)
	sizes := gen.OneGenOf(gen.IntRange(0, 200), gen.IntRange(120, 70000))
	props.Property("WritePrepared(prepare(op, p)) writes WriteMessage(op, p)'s bytes", prop.ForAll(
		func(binary bool, n int, fill byte) bool {
			op := wsframe.OpText
			if binary {
				op = wsframe.OpBinary
			}
			payload := bytes.Repeat([]byte{fill}, n)
			pm, err := wsconn.NewPreparedMessage(op, payload)
			if err != nil {
				t.Log(err)
				return false
			}
			var want recorder
			if err := wsconn.NewConn(&want, wsframe.RoleServer, "", nil, wsconn.Options{}).WriteMessage(op, payload); err != nil {
				t.Log(err)
				return false
			}
			if n > 0 {
				payload[0] ^= 0xFF // the prepared message holds its own copy
			}
			for range 3 {
				var got recorder
				if err := wsconn.NewConn(&got, wsframe.RoleServer, "", nil, wsconn.Options{}).WritePrepared(pm); err != nil {
					t.Log(err)
					return false
				}
				if !bytes.Equal(got.bytes(), want.bytes()) {
					t.Logf("%d bytes: prepared %x..., WriteMessage %x...", n, head(got.bytes()), head(want.bytes()))
					return false
				}
			}
			return pm.Opcode() == op && pm.Len() == len(want.bytes()) && len(pm.Payload()) == n
		},
		gen.Bool(), sizes, gen.UInt8(),
	))
	props.TestingRun(t)
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

func TestPreparedMessageRefusesControlOpcodes(t *testing.T) {
	for _, op := range []wsframe.Opcode{wsframe.OpPing, wsframe.OpPong, wsframe.OpClose, wsframe.OpContinuation} {
		if _, err := wsconn.NewPreparedMessage(op, nil); !errors.Is(err, wsconn.ErrNotData) {
			t.Errorf("%v: %v", op, err)
		}
	}
}

// After this end's Close no data frame may follow (RFC 6455 §5.5.1).
func TestWritePreparedAfterClose(t *testing.T) {
	var rec recorder
	c := wsconn.NewConn(&rec, wsframe.RoleServer, "", nil, wsconn.Options{CloseTimeout: 10 * time.Millisecond})
	c.Close(wsframe.CloseNormal, "")
	pm, _ := wsconn.NewPreparedMessage(wsframe.OpText, []byte("late"))
	before := len(rec.bytes())
	if err := c.WritePrepared(pm); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if len(rec.bytes()) != before {
		t.Error("bytes written after Close")
	}
}

// A prepared message waits for a message being streamed in fragments: it
// never lands between them.
func TestWritePreparedWaitsForFragmentedMessage(t *testing.T) {
	var rec recorder
	c := wsconn.NewConn(&rec, wsframe.RoleServer, "", nil, wsconn.Options{})
	w, err := c.NextWriter(wsframe.OpBinary)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("part1"))
	pm, _ := wsconn.NewPreparedMessage(wsframe.OpText, []byte("whole"))
	done := make(chan error, 1)
	go func() { done <- c.WritePrepared(pm) }()
	select {
	case err := <-done:
		t.Fatalf("written in the middle of a fragmented message (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The prepared frame is the last thing written, whole.
	if got := rec.bytes(); !bytes.HasSuffix(got, append([]byte{0x81, 5}, "whole"...)) {
		t.Fatalf("%x", got)
	}
}

// Over real sockets: a server broadcasts one prepared message to several
// clients, and a client-role Conn (which must mask per frame) sends one;
// every reader gets the message.
func TestPreparedMessageOverSockets(t *testing.T) {
	pm, _ := wsconn.NewPreparedMessage(wsframe.OpText, bytes.Repeat([]byte("héllo "), 500))
	var mu sync.Mutex
	var conns []*wsconn.Conn
	srv := &server.Server{Options: server.Options{Logf: func(string, ...any) {}}, Handler: server.Funcs{
		Open: func(c *wsconn.Conn) {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		},
		Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			if !bytes.Equal(data, pm.Payload()) {
				c.Close(wsframe.CloseInvalidPayload, "not the prepared payload")
				return
			}
			// A client's prepared message arrived intact: broadcast.
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.WritePrepared(pm)
			}
		},
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	var clients []*wsconn.Conn
	for range 3 {
		clients = append(clients, dial(t, "ws://"+ln.Addr().String()+"/", nil))
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections opened", n)
		}
	}
	if err := clients[0].WritePrepared(pm); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		op, data, err := c.ReadMessageContext(ctx)
		cancel()
		if err != nil || op != wsframe.OpText || !bytes.Equal(data, pm.Payload()) {
			t.Fatalf("%v %v %d bytes", err, op, len(data))
		}
	}
	for _, c := range clients {
		c.CloseNow() // before the deferred Shutdown, which would wait for their Close
	}
}

// Several prepared messages in one call are the same bytes as the same
// messages written one by one.
func TestWritePreparedBatch(t *testing.T) {
	var pms []*wsconn.PreparedMessage
	var want recorder
	wc := wsconn.NewConn(&want, wsframe.RoleServer, "", nil, wsconn.Options{})
	for i, n := range []int{0, 5, 125, 126, 65535, 65536, 3} {
		op := wsframe.OpText
		if i%2 == 1 {
			op = wsframe.OpBinary
		}
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		pm, _ := wsconn.NewPreparedMessage(op, p)
		pms = append(pms, pm)
		wc.WriteMessage(op, p)
	}
	var got recorder
	if err := wsconn.NewConn(&got, wsframe.RoleServer, "", nil, wsconn.Options{}).WritePrepared(pms...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.bytes(), want.bytes()) {
		t.Fatalf("batch of %d: %d bytes, one by one: %d bytes", len(pms), len(got.bytes()), len(want.bytes()))
	}
}

// With permessage-deflate, a prepared message is compressed (RSV1): once
// and shared by every connection whose compressor starts each message empty
// (the same bytes go to each), and with its own context by one that takes
// context over. A client inflates it back either way.
func TestPreparedMessageCompressed(t *testing.T) {
	payload := bytes.Repeat([]byte(`{"type":"tick","symbol":"ACME","price":101.25},`), 40)
	for _, noCtx := range []bool{true, false} {
		params := &handshake.DeflateParams{ServerNoContextTakeover: noCtx}
		pm, _ := wsconn.NewPreparedMessage(wsframe.OpText, payload)
		var wires [][]byte
		for range 3 {
			var rec recorder
			c := wsconn.NewConn(&rec, wsframe.RoleServer, "", nil, wsconn.Options{Deflate: params})
			if err := c.WritePrepared(pm); err != nil {
				t.Fatal(err)
			}
			wires = append(wires, rec.bytes())
		}
		for i, wire := range wires {
			if len(wire) == 0 || wire[0] != 0xC1 || len(wire) >= len(payload)/4 {
				t.Fatalf("no takeover %v: connection %d wrote %d bytes starting %x, want one compressed text frame", noCtx, i, len(wire), wire[:min(len(wire), 2)])
			}
			if noCtx && !bytes.Equal(wire, wires[0]) {
				t.Errorf("connection %d got other bytes than connection 0: not compressed once", i)
			}
			s := wsconn.NewSession(wsconn.SessionConfig{Role: wsframe.RoleClient, Deflate: params})
			var got []byte
			for rest := wire; len(rest) > 0; {
				ev, n, err := s.Next(rest)
				if err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
				if ev.Kind == wsconn.EventData {
					got = append(got, ev.Data...)
				}
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("no takeover %v: connection %d inflated %d bytes, want the %d of the message", noCtx, i, len(got), len(payload))
			}
		}
	}
}
