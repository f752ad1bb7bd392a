package wsconn

import (
	"io"
	"net"
	"testing"

	"github.com/wsfsm/wsfsm/wsframe"
)

// A client masks a copy of what it sends; the copy of a very large message
// is not kept for the connection's life, the buffer of smaller ones is.
func TestClientDoesNotKeepLargeWriteBuffers(t *testing.T) {
	local, peer := net.Pipe()
	defer local.Close()
	defer peer.Close()
	go io.Copy(io.Discard, peer)
	c := NewConn(local, wsframe.RoleClient, "", nil, Options{})
	if err := c.WriteMessage(wsframe.OpBinary, make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	if cap(c.wbuf) > maxKeptWriteBuffer {
		t.Errorf("after a 4 MiB message the write buffer keeps %d bytes", cap(c.wbuf))
	}
	if err := c.WriteMessage(wsframe.OpBinary, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if cap(c.wbuf) == 0 {
		t.Error("the buffer of a 1 MiB message is not kept for reuse")
	}
}
