// Echo server on gobwas/ws's high-level API, as its README's first example
// does it: net/http, ws.UpgradeHTTP, then a goroutine that reads with
// wsutil.ReadClientData and answers with wsutil.WriteServerMessage. The
// 16 MiB limit is wsutil.SetMaxFrameSize's.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	wsutil.SetMaxFrameSize(16 << 20)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			for {
				msg, op, err := wsutil.ReadClientData(conn)
				if err != nil {
					return
				}
				if err := wsutil.WriteServerMessage(conn, op, msg); err != nil {
					return
				}
			}
		}()
	})))
}
