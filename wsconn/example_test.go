package wsconn_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// A client: Dial, one message each way, the close handshake. (The root
// package wsfsm has the same Dial under one import.)
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		server.ServeConn(c, server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			c.WriteMessage(op, data) // echo
		}})
	}))
	defer srv.Close()

	c, err := wsconn.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &wsconn.DialOptions{
		Options: wsconn.Options{MaxMessageSize: 1 << 20},
	})
	if err != nil {
		log.Fatal(err) // a *wsconn.HandshakeError (status, header, body) when refused
	}
	c.WriteMessage(wsframe.OpText, []byte("hello"))
	op, msg, err := c.ReadMessage()
	fmt.Println(op, string(msg), err)
	fmt.Println(c.Close(wsframe.CloseNormal, "bye"))
	// Output:
	// text hello <nil>
	// <nil>
}

// A Conn over any net.Conn on which a handshake of your own is done; here
// the two ends of an in-memory pipe. Run hands each message to its function,
// borrowing the connection's buffer for the call.
func ExampleNewConn() {
	a, b := net.Pipe()
	srv := wsconn.NewConn(a, wsframe.RoleServer, "", nil, wsconn.Options{})
	cli := wsconn.NewConn(b, wsframe.RoleClient, "", nil, wsconn.Options{})

	done := make(chan error, 1)
	go func() {
		done <- srv.Run(func(op wsframe.Opcode, data []byte) {
			fmt.Printf("server got %s %q\n", op, data) // data is valid during the call only
		})
	}()
	cli.WriteMessage(wsframe.OpText, []byte("one"))
	cli.WriteMessage(wsframe.OpBinary, []byte{2})
	cli.Close(wsframe.CloseNormal, "")
	fmt.Println("Run:", <-done)
	// Output:
	// server got text "one"
	// server got binary "\x02"
	// Run: websocket: closed: 1000 (normal closure)
}

// The sans-I/O core driven by hand, as an event loop would: bytes received
// go into Next, which returns events; the replies the protocol calls for
// (the Pong, the Close reply) wait in Pending for the caller to send.
func ExampleSession() {
	s := wsconn.NewSession(wsconn.SessionConfig{Role: wsframe.RoleServer})

	// What a client sent: a ping, a text message in two fragments, a Close.
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4} // client frames are masked
	closing, _ := wsframe.AppendClose(nil, wsframe.CloseNormal, "bye")
	var in []byte
	in = wsframe.AppendFrame(in, wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Masked: true, Mask: key}, []byte("?"))
	in = wsframe.AppendFrame(in, wsframe.Header{Opcode: wsframe.OpText, Masked: true, Mask: key}, []byte("Hel"))
	in = wsframe.AppendFrame(in, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Masked: true, Mask: key}, []byte("lo"))
	in = wsframe.AppendFrame(in, wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, Mask: key}, closing)

	for {
		ev, n, err := s.Next(in) // ev and its slices are valid until the next call
		if err != nil {
			fmt.Println("error:", err) // a Close with its code is in Pending: send it, close
			break
		}
		in = in[n:]
		if ev.Kind == wsconn.EventNone {
			break // read more from the network
		}
		switch ev.Kind {
		case wsconn.EventData:
			fmt.Printf("data %s %q start=%v end=%v\n", ev.Opcode, ev.Data, ev.Start, ev.End)
		case wsconn.EventPing:
			fmt.Printf("ping %q\n", ev.Data)
		case wsconn.EventClose:
			fmt.Printf("close %d %q\n", ev.Code, ev.Reason)
		}
	}
	fmt.Printf("to send: %q\n", s.Pending()) // the Pong, then the Close reply (1000): server frames are not masked
	s.ClearPending()                         // once written
	// Output:
	// ping "?"
	// data text "Hel" start=true end=false
	// data text "lo" start=false end=true
	// close 1000 "bye"
	// to send: "\x8a\x01?\x88\x02\x03\xe8"
}
