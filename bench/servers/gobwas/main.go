// Echo server on gobwas/ws's low-level API, as its README's "Low-level
// example" does it: ws.Upgrade on the raw connection, then ReadHeader,
// read the payload, Cipher, WriteHeader, write the payload. Reads go
// through a bufio.Reader and writes through a bufio.Writer flushed per frame
// (the README reads the conn directly: a syscall per header field).
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"

	"github.com/gobwas/ws"
)

const limit = 16 << 20

func serve(conn net.Conn) {
	defer conn.Close()
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	r := bufio.NewReaderSize(conn, 4096)
	w := bufio.NewWriterSize(conn, 4096)
	var payload []byte
	for {
		header, err := ws.ReadHeader(r)
		if err != nil || header.Length > limit {
			return
		}
		if int64(cap(payload)) < header.Length {
			payload = make([]byte, header.Length)
		}
		payload = payload[:header.Length]
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if header.Masked {
			ws.Cipher(payload, header.Mask, 0)
		}
		header.Masked = false
		if err := ws.WriteHeader(w, header); err != nil {
			return
		}
		if _, err := w.Write(payload); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
		if header.OpCode == ws.OpClose {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(conn)
	}
}
