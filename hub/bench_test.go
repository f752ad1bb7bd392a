package hub_test

import (
	"fmt"
	"testing"

	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// discard is a Sink that drops everything: the benchmark measures the hub.
type discard struct{}

func (discard) WritePrepared(...*wsconn.PreparedMessage) error { return nil }
func (discard) Close(wsframe.CloseCode, string) error          { return nil }
func (discard) CloseNow() error                                { return nil }

// BenchmarkPublish: one 64-byte message to N in-memory subscribers (framing,
// fan-out into the queues, the writers draining them); an op is one
// publication and its deliveries.
//
//	go test -run '^$' -bench Publish ./hub
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{1, 1000, 10000} {
		for _, p := range []hub.Policy{hub.DropOldest, hub.Coalesce} {
			b.Run(fmt.Sprintf("subs=%d/%v", subs, p), func(b *testing.B) {
				h, _ := hub.New(hub.Options{QueueSize: 64})
				defer h.Close()
				for range subs {
					s, _ := h.NewSubscriber(discard{})
					s.Subscribe("t")
				}
				msg := hub.Message{Data: make([]byte, 64), Policy: p, Key: "k"}
				b.ReportAllocs()
				b.SetBytes(int64(64 * subs))
				b.ResetTimer()
				for range b.N {
					h.Publish("t", msg)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
			})
		}
	}
}
