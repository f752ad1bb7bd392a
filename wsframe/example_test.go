package wsframe_test

import (
	"fmt"

	"github.com/wsfsm/wsfsm/wsframe"
)

// A server reads two masked client frames, a fragmented text message with
// a ping between its fragments, delivered in chunks of 4 bytes as a slow
// network might.
func Example() {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	var stream []byte
	stream = wsframe.AppendFrame(stream, wsframe.Header{Opcode: wsframe.OpText, Masked: true, Mask: key}, []byte("Hel"))
	stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Masked: true, Mask: key}, []byte("?"))
	stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Masked: true, Mask: key}, []byte("lo"))

	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleServer})
	for len(stream) > 0 {
		chunk := stream[:min(4, len(stream))]
		stream = stream[len(chunk):]
		for {
			tok, n, err := p.Next(chunk)
			if err != nil {
				code, _ := wsframe.CodeOf(err)
				fmt.Println("error:", err, "close code", code)
				return
			}
			chunk = chunk[n:]
			if tok.Kind == wsframe.TokenNone {
				break // need the next chunk
			}
			switch {
			case tok.Kind == wsframe.TokenHeader:
				fmt.Printf("%s fin=%v len=%d: ", tok.Header.Opcode, tok.Header.Fin, tok.Header.Length)
			case tok.End:
				fmt.Printf("%q end\n", tok.Payload)
			default:
				fmt.Printf("%q ", tok.Payload)
			}
		}
	}
	// Output:
	// text fin=false len=3: "He" "l" end
	// ping fin=true len=1: "?" end
	// continuation fin=true len=2: "lo" end
}

// A bad frame yields an error naming the rule, the offset and the close code.
func ExampleError() {
	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleServer})
	_, _, err := p.Next([]byte{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}) // unmasked
	code, _ := wsframe.CodeOf(err)
	fmt.Println(err)
	fmt.Println(code)
	// Output:
	// websocket: frame from the client is not masked at byte 1 (RFC 6455 §5.1; close 1002)
	// 1002 (protocol error)
}
