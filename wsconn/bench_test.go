package wsconn_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// echoPair returns a client Conn over loopback TCP whose peer is a server
// Conn that echoes every message (ReadMessage, WriteMessage) on a goroutine
// of its own. The handshake is not part of the measure.
func echoPair(b testing.TB) *wsconn.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		b.Fatal("accept failed")
	}
	client := wsconn.NewConn(cc, wsframe.RoleClient, "", nil, wsconn.Options{})
	srv := wsconn.NewConn(sc, wsframe.RoleServer, "", nil, wsconn.Options{})
	b.Cleanup(func() { client.CloseNow(); srv.CloseNow() })
	// Run lends each message from the connection's buffer; it goes back out
	// from there.
	go srv.Run(func(op wsframe.Opcode, data []byte) { srv.WriteMessage(op, data) })
	return client
}

// BenchmarkEcho is one round trip of a message through a server Conn that
// echoes it (Run, WriteMessage), over loopback TCP; the client is a Conn
// too, reading into its own buffer (AppendMessage). allocs/op counts both
// ends: a message costs none.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 128, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			client := echoPair(b)
			msg := make([]byte, size)
			var in []byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := client.WriteMessage(wsframe.OpBinary, msg); err != nil {
					b.Fatal(err)
				}
				var err error
				if _, in, err = client.AppendMessage(in[:0]); err != nil || len(in) != size {
					b.Fatal(len(in), err)
				}
			}
		})
	}
}

// A message costs no allocation at either end in steady state, through the
// borrowing calls (Run's handler, AppendMessage): not the read buffer, the
// message, the write buffer nor the writev list.
func TestEchoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	for _, size := range []int{128, 4 << 10, 64 << 10} {
		client := echoPair(t)
		msg := make([]byte, size)
		var in []byte
		echo := func() {
			if err := client.WriteMessage(wsframe.OpBinary, msg); err != nil {
				t.Fatal(err)
			}
			var err error
			if _, in, err = client.AppendMessage(in[:0]); err != nil || len(in) != size {
				t.Fatal(len(in), err)
			}
		}
		echo() // buffers reach their size
		if allocs := testing.AllocsPerRun(200, echo); allocs != 0 {
			t.Errorf("%d-byte messages: %v allocations per round trip", size, allocs)
		}
	}
}
