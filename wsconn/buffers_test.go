package wsconn

import (
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/wsfsm/wsfsm/wsframe"
)

// A client masks what it sends chunk by chunk: writing a large message
// costs the payload once (the caller's), not a masked copy of it, and the
// buffer kept between frames stays small.
func TestClientMasksLargeWritesInChunks(t *testing.T) {
	local, peer := net.Pipe()
	defer local.Close()
	defer peer.Close()
	go io.Copy(io.Discard, peer)
	c := NewConn(local, wsframe.RoleClient, "", nil, Options{})
	msg := make([]byte, 32<<20)
	c.WriteMessage(wsframe.OpBinary, msg[:1<<10]) // the buffer reaches its size
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := c.WriteMessage(wsframe.OpBinary, msg); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("writing a 32 MiB message allocated %d bytes", got)
	}
	if cap(c.wbuf) > maxKeptWriteBuffer {
		t.Errorf("the write buffer keeps %d bytes", cap(c.wbuf))
	}
}
