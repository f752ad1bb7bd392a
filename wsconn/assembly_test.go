package wsconn_test

import (
	"net"
	"runtime"
	"testing"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Assembling a message from fragments allocates O(log size) times and at
// most about twice its size in all: the message buffer doubles to powers of
// two, it is not grown by each fragment, and the last frame's length caps
// the last step.
func TestFragmentAssemblyAllocatesLogarithmically(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	const size = 4 << 20
	for _, frag := range []int{4 << 10, 256 << 10, size} {
		var stream []byte
		for off := 0; off < size; off += frag {
			op := wsframe.OpContinuation
			if off == 0 {
				op = wsframe.OpBinary
			}
			stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: off+frag == size, Opcode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, make([]byte, frag))
		}
		local, peer := net.Pipe()
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
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// 4 MiB from a 4 KiB start is 10 doublings; a few more for the
		// pieces copied out of the read buffer.
		allocs := testing.AllocsPerRun(5, read)
		runtime.ReadMemStats(&after)
		bytes := float64(after.TotalAlloc-before.TotalAlloc) / 6 // AllocsPerRun runs once more to warm up
		if allocs > 16 || bytes > 2.05*size {
			t.Errorf("a 4 MiB message in %d-byte fragments: %v allocations, %.0f bytes", frag, allocs, bytes)
		}
		local.Close()
		peer.Close()
	}
}
