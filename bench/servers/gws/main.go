// Echo server on lxzan/gws, as its README does it: gws.NewServer with an
// event handler whose OnMessage writes the message back.
package main

import (
	"flag"
	"log"

	"github.com/lxzan/gws"
)

type handler struct{ gws.BuiltinEventHandler }

func (handler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	socket.WriteMessage(message.Opcode, message.Bytes())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	log.Fatal(gws.NewServer(handler{}, &gws.ServerOption{ReadMaxPayloadSize: 16 << 20}).Run(*addr))
}
