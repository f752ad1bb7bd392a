package natsbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/natsbroker"
	"github.com/wsfsm/wsfsm/natsbroker/embedded"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
)

// BenchmarkBroadcastNodes: one publisher on node A, 1,000 WebSocket
// subscribers (wsfsm clients over loopback, in this process), all on node A
// ("one-node") or half on A and half on node B, which gets the messages
// through an embedded NATS server ("two-nodes"). Each op publishes a burst
// of 10 messages and waits for every subscriber to have them. Compare with
// bench/hub's BenchmarkBroadcast (same measure, one node, against gorilla):
//
//	go -C natsbroker test -run '^$' -bench BroadcastNodes -benchtime 5x .
func BenchmarkBroadcastNodes(b *testing.B) {
	for _, two := range []bool{false, true} {
		name := "one-node"
		if two {
			name = "two-nodes"
		}
		b.Run(name+"/subs=1000", func(b *testing.B) { benchNodes(b, 1000, two) })
	}
}

func wsHandler(h *hub.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := server.Upgrade(w, r, &server.Options{Logf: func(string, ...any) {}})
		if err != nil {
			return
		}
		sub, err := h.NewSubscriber(c)
		if err != nil {
			c.CloseNow()
			return
		}
		sub.Subscribe("b")
		go server.ServeConn(c, server.Funcs{Close: func(*wsconn.Conn, error) { sub.Close() }})
	})
}

func benchNodes(b *testing.B, subs int, two bool) {
	ns, err := embedded.Start(embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	var hubs []*hub.Hub
	var brokers []*natsbroker.Broker
	var urls []string
	for range 2 {
		br := natsbroker.New(natsbroker.Options{URL: ns.ClientURL()})
		h, err := hub.New(hub.Options{QueueSize: 256, Policy: hub.CloseSlow, Broker: br})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		ts := httptest.NewServer(wsHandler(h))
		defer ts.Close()
		hubs, brokers, urls = append(hubs, h), append(brokers, br), append(urls, "ws"+ts.URL[len("http"):]+"/")
	}
	const burst = 10
	total := b.N * burst
	count := make([]atomic.Int64, total)
	last := make([]atomic.Int64, total)
	done := make(chan int, total)
	var conns []*wsconn.Conn
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}()
	for i := range subs {
		url := urls[0]
		if two && i%2 == 1 {
			url = urls[1]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := wsconn.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				seq, err := strconv.Atoi(string(bytes.TrimRight(data, " ")))
				if err != nil || seq >= total {
					panic(fmt.Sprintf("bad message %q", data))
				}
				for {
					old := last[seq].Load()
					if now <= old || last[seq].CompareAndSwap(old, now) {
						break
					}
				}
				if count[seq].Add(1) == int64(subs) {
					done <- seq
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); hubs[0].Stats().Subscribers+hubs[1].Stats().Subscribers < int64(subs); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("subscribers not registered")
		}
	}
	for _, br := range brokers {
		br.Flush(5 * time.Second) // the subscriptions are at the server
	}
	published := make([]int64, total)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for j := range burst {
			seq := i*burst + j
			msg := strconv.AppendInt(nil, int64(seq), 10)
			msg = append(msg, bytes.Repeat([]byte{' '}, 64-len(msg))...)
			published[seq] = time.Now().UnixNano()
			hubs[0].Publish("b", hub.Message{Data: msg})
		}
		for range burst {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				b.Fatalf("a burst not delivered in 30 s: %+v / %+v", hubs[0].Stats(), hubs[1].Stats())
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lat := make([]float64, total)
	for i := range total {
		lat[i] = float64(last[i].Load()-published[i]) / 1e6
	}
	slices.Sort(lat)
	b.ReportMetric(float64(subs*total)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-ms")
	b.ReportMetric(0, "ns/op")
}
