package hub_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Each WebSocket connection becomes a subscriber (a *wsconn.Conn is a
// Sink) for as long as it lives; a publication on its topic is framed once
// and written to every subscriber by its own writer. Slow subscribers are
// evicted with Close 1008 here (CloseSlow) instead of dropping messages.
func ExampleHub_NewSubscriber() {
	h, err := hub.New(hub.Options{QueueSize: 64, Policy: hub.CloseSlow})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close(wsframe.CloseNormal, "")
		sub, err := h.NewSubscriber(c, r.URL.Query().Get("room"))
		if err != nil {
			return
		}
		defer sub.Close()                             // when the connection ends
		sub.Send(hub.Message{Data: []byte("joined")}) // to this subscriber alone
		c.Run(func(op wsframe.Opcode, data []byte) {
			h.Publish(r.URL.Query().Get("room"), hub.Message{Op: op, Data: data}) // Publish copies data
		})
	}))
	defer srv.Close()

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?room=lobby"
	var conns []*wsconn.Conn
	for range 3 {
		c, err := wsconn.Dial(context.Background(), url, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(wsframe.CloseNormal, "")
		c.ReadMessage() // "joined": subscribed from now on
		conns = append(conns, c)
	}
	conns[0].WriteMessage(wsframe.OpText, []byte("hello, lobby")) // one client speaks
	for i, c := range conns {
		_, msg, _ := c.ReadMessage()
		fmt.Printf("client %d: %s\n", i, msg)
	}
	// Output:
	// client 0: hello, lobby
	// client 1: hello, lobby
	// client 2: hello, lobby
}
