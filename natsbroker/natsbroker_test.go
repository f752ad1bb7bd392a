package natsbroker_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/natsbroker"
	"github.com/wsfsm/wsfsm/natsbroker/embedded"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// sink is an in-memory subscriber that records what it is written.
type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) WritePrepared(pms ...*wsconn.PreparedMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pm := range pms {
		s.got = append(s.got, string(pm.Payload()))
	}
	return nil
}
func (s *sink) Close(wsframe.CloseCode, string) error { return nil }
func (s *sink) CloseNow() error                       { return nil }

func (s *sink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = nil
}

func startServer(t *testing.T, o embedded.Options) *server.Server {
	t.Helper()
	s, err := embedded.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// node is one hub with its NATS broker and its subscribers on "room".
type node struct {
	name   string
	hub    *hub.Hub
	broker *natsbroker.Broker
	sinks  []*sink
}

func newNode(t *testing.T, name, url string, subscribers int) *node {
	t.Helper()
	b := natsbroker.New(natsbroker.Options{URL: url, Name: name, Logf: testLog(t),
		NATS: []nats.Option{nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(0, 0)}})
	h, err := hub.New(hub.Options{QueueSize: 10000, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n := &node{name: name, hub: h, broker: b}
	for range subscribers {
		s := &sink{}
		sub, err := h.NewSubscriber(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Subscribe("room"); err != nil {
			t.Fatal(err)
		}
		n.sinks = append(n.sinks, s)
	}
	return n
}

// testLog logs to t until the test ends: the NATS client's callbacks run on
// goroutines of their own and may fire after it.
func testLog(t *testing.T) func(string, ...any) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// connected waits until every node's broker has sent its subscriptions to
// the server and each node hears from every other node: probes are
// published (and possibly lost, at most once) until every sink has one from
// every node.
func connected(t *testing.T, nodes []*node) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for round := 0; ; round++ {
		for _, n := range nodes {
			n.hub.Publish("room", hub.Message{Data: []byte("probe:" + n.name + ":" + strconv.Itoa(round))})
		}
		time.Sleep(20 * time.Millisecond)
		all := true
		for _, n := range nodes {
			for _, s := range n.sinks {
				got := strings.Join(s.messages(), "\n")
				for _, from := range nodes {
					if !strings.Contains(got, "probe:"+from.name+":") {
						all = false
					}
				}
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes do not hear each other after %d probe rounds", round+1)
		}
	}
	// Probes still in flight land before the next message of their node;
	// let them arrive, then start clean.
	for _, n := range nodes {
		n.broker.Flush(5 * time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	for _, n := range nodes {
		for _, s := range n.sinks {
			s.reset()
		}
	}
}

// exchange has every node publish msgs numbered messages at once, and
// checks that every subscriber on every node gets each exactly once, in
// each publisher's order.
func exchange(t *testing.T, nodes []*node, msgs int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range msgs {
				if err := n.hub.Publish("room", hub.Message{Data: fmt.Appendf(nil, "%s:%d", n.name, i)}); err != nil {
					t.Errorf("%s: publish %d: %v", n.name, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := len(nodes) * msgs
	for _, n := range nodes {
		for j, s := range n.sinks {
			waitFor(t, fmt.Sprintf("%d messages on %s's subscriber %d", total, n.name, j), 15*time.Second, func() bool {
				return len(s.messages()) >= total
			})
			time.Sleep(10 * time.Millisecond) // a duplicate would land now
			next := map[string]int{}
			for _, m := range s.messages() {
				from, num, _ := strings.Cut(m, ":")
				i, err := strconv.Atoi(num)
				if err != nil || i != next[from] {
					t.Fatalf("%s's subscriber %d: %q, expected %s:%d (a gap, a duplicate or out of order)", n.name, j, m, from, next[from])
				}
				next[from]++
			}
			for _, from := range nodes {
				if next[from.name] != msgs {
					t.Fatalf("%s's subscriber %d: %d of %s's %d messages", n.name, j, next[from.name], from.name, msgs)
				}
			}
		}
	}
}

// Three hub nodes on one real NATS server: every message published on any
// node reaches every subscriber on every node exactly once, in order.
func TestThreeNodesExactlyOnce(t *testing.T) {
	s := startServer(t, embedded.Options{})
	nodes := []*node{newNode(t, "a", s.ClientURL(), 3), newNode(t, "b", s.ClientURL(), 3), newNode(t, "c", s.ClientURL(), 3)}
	connected(t, nodes)
	exchange(t, nodes, 300)
	for _, n := range nodes {
		st := n.hub.Stats()
		if st.Received < 600 || st.BrokerErrs != 0 {
			t.Errorf("%s: %+v", n.name, st)
		}
	}
}

// freePort returns a loopback address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The NATS server restarts: the nodes reconnect and resubscribe by
// themselves and delivery resumes.
func TestServerRestart(t *testing.T) {
	addr := freePort(t)
	s := startServer(t, embedded.Options{Addr: addr})
	url := "nats://" + addr
	nodes := []*node{newNode(t, "a", url, 2), newNode(t, "b", url, 2)}
	connected(t, nodes)
	exchange(t, nodes, 50)

	s.Shutdown()
	s.WaitForShutdown()
	for _, n := range nodes {
		waitFor(t, n.name+" to notice", 10*time.Second, func() bool { return !n.broker.Conn().IsConnected() })
		// Published while disconnected: its own subscribers get it now.
		before := len(n.sinks[0].messages())
		n.hub.Publish("room", hub.Message{Data: []byte("during the outage")})
		waitFor(t, "local delivery during the outage", 5*time.Second, func() bool { return len(n.sinks[0].messages()) > before })
	}
	startServer(t, embedded.Options{Addr: addr})
	for _, n := range nodes {
		waitFor(t, n.name+" to reconnect", 10*time.Second, func() bool { return n.broker.Conn().IsConnected() })
	}
	// Nothing was subscribed again by the test: the client did it.
	connected(t, nodes)
	exchange(t, nodes, 50)
}

// A three-server NATS cluster loses the server some nodes are connected to:
// those nodes fail over to the others, and delivery resumes.
func TestClusterFailover(t *testing.T) {
	s1 := startServer(t, embedded.Options{Name: "s1", Cluster: "127.0.0.1:0"})
	route := s1.ClusterAddr().String()
	s2 := startServer(t, embedded.Options{Name: "s2", Cluster: "127.0.0.1:0", Routes: []string{route}})
	s3 := startServer(t, embedded.Options{Name: "s3", Cluster: "127.0.0.1:0", Routes: []string{route}})
	for _, s := range []*server.Server{s1, s2, s3} {
		waitFor(t, s.Name()+"'s routes", 15*time.Second, func() bool { return s.NumRemotes() == 2 })
	}
	// Node a knows only s1's address; it learns the others from the
	// cluster.
	nodes := []*node{newNode(t, "a", s1.ClientURL(), 2), newNode(t, "b", s2.ClientURL(), 2), newNode(t, "c", s3.ClientURL(), 2)}
	waitFor(t, "a to learn the cluster", 10*time.Second, func() bool { return len(nodes[0].broker.Conn().DiscoveredServers()) >= 2 })
	connected(t, nodes)
	exchange(t, nodes, 100)

	s1.Shutdown()
	s1.WaitForShutdown()
	a := nodes[0].broker.Conn()
	waitFor(t, "a to fail over", 15*time.Second, func() bool {
		return a.IsConnected() && a.ConnectedUrl() != s1.ClientURL()
	})
	t.Logf("a moved from %s to %s", s1.ClientURL(), a.ConnectedUrl())
	connected(t, nodes)
	exchange(t, nodes, 100)
	if !slices.Contains([]string{s2.ClientURL(), s3.ClientURL()}, a.ConnectedUrl()) {
		t.Errorf("a is on %s", a.ConnectedUrl())
	}
}

// Any topic name is one subject token; a message on the subject that is not
// an envelope is dropped, not delivered.
func TestOddTopicsAndForeignMessages(t *testing.T) {
	s := startServer(t, embedded.Options{})
	a, b := newNode(t, "a", s.ClientURL(), 0), newNode(t, "b", s.ClientURL(), 0)
	topics := []string{"", "a.b", "*", ">", "with space", "ünïcode", strings.Repeat("long", 100)}
	got := map[string]*sink{}
	for _, topic := range topics {
		sk := &sink{}
		sub, _ := b.hub.NewSubscriber(sk)
		if err := sub.Subscribe(topic); err != nil {
			t.Fatalf("%q: %v", topic, err)
		}
		got[topic] = sk
	}
	b.broker.Flush(5 * time.Second)
	raw, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, topic := range topics {
		raw.Publish(b.broker.Subject(topic), []byte("not an envelope"))
		if err := a.hub.Publish(topic, hub.Message{Data: []byte("to " + topic)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range topics {
		waitFor(t, "topic "+topic, 10*time.Second, func() bool { return len(got[topic].messages()) > 0 })
		if m := got[topic].messages(); !slices.Equal(m, []string{"to " + topic}) {
			t.Errorf("topic %q: %q", topic, m)
		}
	}
}
