package wsconn_test

import (
	"net"
	"testing"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Assembling a message from fragments allocates O(log size) times: the
// message buffer doubles, it is not grown by each fragment.
func TestFragmentAssemblyAllocatesLogarithmically(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	const size, frag = 4 << 20, 4 << 10
	var stream []byte
	for off := 0; off < size; off += frag {
		op := wsframe.OpContinuation
		if off == 0 {
			op = wsframe.OpBinary
		}
		stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: off+frag == size, Opcode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, make([]byte, frag))
	}
	local, peer := net.Pipe()
	defer local.Close()
	defer peer.Close()
	go func() {
		for {
			if _, err := peer.Write(stream); err != nil {
				return
			}
		}
	}()
	c := wsconn.NewConn(local, wsframe.RoleServer, "", nil, wsconn.Options{})
	read := func() {
		if _, p, err := c.ReadMessage(); err != nil || len(p) != size {
			t.Fatal(len(p), err)
		}
	}
	read()
	// 4 MiB from a 4 KiB start is 10 doublings; a few more for the pieces
	// copied out of the read buffer.
	if allocs := testing.AllocsPerRun(5, read); allocs > 16 {
		t.Errorf("a 4 MiB message in 4 KiB fragments: %v allocations", allocs)
	}
}
