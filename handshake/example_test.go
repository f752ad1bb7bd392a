package handshake_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/wsfsm/wsfsm/handshake"
)

// The server side without I/O: a request head arrives in pieces (here 16
// bytes at a time, followed by the start of the first frame), the reader
// hands back what follows the head, Check validates the request and
// AppendResponse writes the 101 to send.
func Example_server() {
	stream := "GET /chat HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n" +
		"\x81\x85" // the first frame begins

	r := handshake.NewRequestReader(handshake.Limits{})
	var frames []byte // what follows the head
	for in := []byte(stream); ; {
		chunk := in[:min(16, len(in))] // what one read returned
		in = in[len(chunk):]
		rest, done, err := r.Feed(chunk)
		if err != nil {
			fmt.Printf("%s", handshake.AppendRejection(nil, err)) // the answer, then close
			return
		}
		if done {
			frames = append(rest, in...) // rest aliases chunk: copy it if chunk is reused
			break
		}
	}

	a, err := handshake.Check(r.Request(), &handshake.ServerOptions{})
	if err != nil {
		fmt.Printf("%s", handshake.AppendRejection(nil, err))
		return
	}
	resp, err := a.AppendResponse(nil, nil)
	if err != nil {
		return
	}
	fmt.Print(strings.ReplaceAll(string(resp), "\r\n", "\n")) // CRLF line ends
	fmt.Printf("then frames: %q\n", frames)
	// Output:
	// HTTP/1.1 101 Switching Protocols
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	//
	// then frames: "\x81\x85"
}

// A request that breaks a rule gets the HTTP answer its *Error names.
func ExampleCheck_rejected() {
	r := handshake.NewRequestReader(handshake.Limits{})
	head := "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
	if _, done, err := r.Feed([]byte(head)); !done || err != nil {
		return
	}
	_, err := handshake.Check(r.Request(), &handshake.ServerOptions{})
	fmt.Println(err.(*handshake.Error).Status(), errors.Is(err, handshake.ErrWebSocketVersion))
	fmt.Print(strings.ReplaceAll(string(handshake.AppendRejection(nil, err)), "\r\n", "\n"))
	// Output:
	// 426 true
	// HTTP/1.1 426 Upgrade Required
	// Sec-WebSocket-Version: 13
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 77
	// Connection: close
	//
	// websocket handshake: Sec-WebSocket-Version is not 13: "8" (RFC 6455 §4.2.2)
}

// The client side without I/O: NewClientRequest builds the head to write
// and keeps the key; the response head, read by a response reader, is
// checked against it.
func ExampleNewClientRequest() {
	u, _ := url.Parse("ws://example.com/chat")
	req, err := handshake.NewClientRequest(u, handshake.ClientOptions{
		Protocols: []string{"chat"},
		Rand:      strings.NewReader("the sample nonce"), // a fixed key for the example; nil: crypto/rand
	})
	if err != nil {
		return
	}
	fmt.Print(strings.ReplaceAll(string(req.Head), "\r\n", "\n")) // CRLF line ends

	answer := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"\r\n"
	r := handshake.NewResponseReader(handshake.Limits{})
	if _, done, err := r.Feed([]byte(answer)); !done || err != nil {
		return // feed more, or give up
	}
	res, err := req.Check(r.Response())
	if err != nil {
		fmt.Println(err) // an *Error naming the Rule (ErrAccept, ErrUnofferedProtocol, ...)
		return
	}
	fmt.Printf("agreed: protocol %q\n", res.Protocol)
	// Output:
	// GET /chat HTTP/1.1
	// Host: example.com
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
	// Sec-WebSocket-Version: 13
	// Sec-WebSocket-Protocol: chat
	//
	// agreed: protocol "chat"
}
