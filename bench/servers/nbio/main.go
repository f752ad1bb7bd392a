// Echo server on lesismal/nbio's event loop (nbhttp), as its examples do
// it: an Upgrader with OnMessage writing the message back.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	u := websocket.NewUpgrader()
	u.CheckOrigin = func(*http.Request) bool { return true }
	u.MessageLengthLimit = 16 << 20
	u.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		c.WriteMessage(mt, data)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := u.Upgrade(w, r, nil); err != nil {
			return
		}
	})
	svr := nbhttp.NewServer(nbhttp.Config{Network: "tcp", Addrs: []string{*addr}, Handler: mux})
	if err := svr.Start(); err != nil {
		log.Fatal(err)
	}
	defer svr.Stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
}
