// Package natsbroker connects wsfsm hubs on several nodes through NATS
// (github.com/nats-io/nats.go): a hub.Broker whose nodes exchange what is
// published on each, so that a message published on node A reaches the
// WebSocket subscribers on nodes B and C.
//
//	b := natsbroker.New(natsbroker.Options{URL: "nats://127.0.0.1:4222"})
//	h, err := hub.New(hub.Options{Broker: b})
//
// Each hub topic is one NATS subject (Options.Prefix, then the topic
// encoded so that any topic name is one subject token). A node subscribes
// to a topic's subject while it has subscribers on that topic.
//
// # Delivery semantics
//
// This is core NATS: at most once, no storage.
//   - A node connected to NATS receives every message the other nodes
//     publish on its topics, once; it never receives its own (the
//     connection is made with NoEcho, and the hub drops its own origin as
//     well), so its own subscribers get its own messages exactly once, from
//     the hub directly.
//   - Order: NATS keeps the order of one connection's messages on one
//     subject, and each subscription delivers in order from one goroutine;
//     with the hub's own rule this gives: what one goroutine publishes on a
//     topic reaches every subscriber on every node in that order. Messages
//     of different nodes may be interleaved differently on different nodes.
//   - While a node is disconnected (its NATS server restarts, or fails and
//     the node moves to another server of the cluster), what the other
//     nodes publish in that time never reaches it: nothing is replayed. What
//     it publishes meanwhile still reaches its own subscribers at once, and
//     is kept in the client's reconnect buffer (nats.go's default 8 MiB,
//     nats.ReconnectBufSize) and sent once it is connected again; past that
//     size Publish fails and the hub counts a BrokerErr. The node reconnects
//     by itself (forever, every ReconnectWait) and its subscriptions are
//     renewed by the client, so delivery resumes without the application.
//   - A node that falls behind on what it receives is a NATS "slow
//     consumer" and the server drops messages for it; the hub's delivery
//     only queues (it never waits for a WebSocket), so that needs a node
//     whose CPU cannot keep up.
package natsbroker

import (
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wsfsm/wsfsm/hub"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Options configure a Broker.
type Options struct {
	// URL is the NATS server, or a comma-separated list (default
	// nats.DefaultURL, nats://127.0.0.1:4222). Servers of a cluster that
	// the client learns from the server are used for failover as well.
	URL string
	// Prefix starts every subject (default "wsfsm.hub"); hubs that should
	// not share topics use different prefixes.
	Prefix string
	// Name is the connection's name as the NATS server shows it.
	Name string
	// Logf logs disconnections, reconnections and asynchronous errors
	// (default: nothing).
	Logf func(format string, args ...any)
	// NATS options applied after the broker's own (NoEcho, reconnect
	// forever every 250 ms, retry a failed first connect), which they may
	// override.
	NATS []nats.Option
}

// Header names of the envelope.
const (
	hdrTopic  = "Wsfsm-Topic"
	hdrOrigin = "Wsfsm-Origin"
	hdrOp     = "Wsfsm-Op"
	hdrPolicy = "Wsfsm-Policy"
	hdrKey    = "Wsfsm-Key"
)

// Broker is a hub.Broker over NATS. Use New; the hub calls Open.
type Broker struct {
	opts Options

	mu      sync.Mutex
	nc      *nats.Conn
	node    string
	deliver func(hub.Envelope)
	subs    map[string]*nats.Subscription
}

var _ hub.Broker = (*Broker)(nil)

// New returns a broker; it connects when the hub opens it.
func New(o Options) *Broker {
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = "wsfsm.hub"
	}
	return &Broker{opts: o, subs: map[string]*nats.Subscription{}}
}

func (b *Broker) logf(format string, args ...any) {
	if b.opts.Logf != nil {
		b.opts.Logf(format, args...)
	}
}

// Open connects to NATS. A server that is not there yet is retried in the
// background (Open does not fail for it); Subscribe and Publish work
// meanwhile, buffered.
func (b *Broker) Open(node string, deliver func(hub.Envelope)) error {
	name := b.opts.Name
	if name == "" {
		name = "wsfsm hub " + node
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close
				b.logf("natsbroker: disconnected: %v", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.logf("natsbroker: reconnected to %s", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			b.logf("natsbroker: %s: %v", subj, err)
		}),
	}
	nc, err := nats.Connect(b.opts.URL, append(opts, b.opts.NATS...)...)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.nc, b.node, b.deliver = nc, node, deliver
	b.mu.Unlock()
	return nil
}

// Conn is the NATS connection (nil before Open).
func (b *Broker) Conn() *nats.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nc
}

// Subject is the NATS subject of a hub topic: the prefix, then the topic
// in unpadded base64url (any topic, even "" or one with dots or spaces,
// is one valid token).
func (b *Broker) Subject(topic string) string {
	return b.opts.Prefix + ".t" + base64.RawURLEncoding.EncodeToString([]byte(topic))
}

var errNotOpen = errors.New("natsbroker: not open")

func (b *Broker) Subscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc == nil {
		return errNotOpen
	}
	if _, ok := b.subs[topic]; ok {
		return nil
	}
	deliver := b.deliver
	// One subscription per topic: nats.go calls its handler from one
	// goroutine, in the order the server sent the messages.
	sub, err := b.nc.Subscribe(b.Subject(topic), func(m *nats.Msg) {
		if e, ok := decode(m); ok {
			deliver(e)
		} else {
			b.logf("natsbroker: dropped a message on %s without a valid envelope", m.Subject)
		}
	})
	if err != nil {
		return err
	}
	// Effectively unlimited pending messages in the client: the hub's
	// delivery never blocks, so what is pending is what has just arrived.
	sub.SetPendingLimits(-1, 256<<20)
	b.subs[topic] = sub
	return nil
}

func (b *Broker) Unsubscribe(topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub := b.subs[topic]
	if sub == nil {
		return nil
	}
	delete(b.subs, topic)
	return sub.Unsubscribe()
}

func (b *Broker) Publish(e hub.Envelope) error {
	b.mu.Lock()
	nc := b.nc
	b.mu.Unlock()
	if nc == nil {
		return errNotOpen
	}
	m := nats.NewMsg(b.Subject(e.Topic))
	m.Header.Set(hdrTopic, e.Topic)
	m.Header.Set(hdrOrigin, e.Origin)
	m.Header.Set(hdrOp, strconv.Itoa(int(e.Op)))
	if e.Policy != hub.Default {
		m.Header.Set(hdrPolicy, strconv.Itoa(int(e.Policy)))
	}
	if e.Key != "" {
		m.Header.Set(hdrKey, e.Key)
	}
	m.Data = e.Data
	return nc.PublishMsg(m)
}

// decode reads an envelope; false for a message that is not one.
func decode(m *nats.Msg) (hub.Envelope, bool) {
	op, err := strconv.Atoi(m.Header.Get(hdrOp))
	if err != nil || (wsframe.Opcode(op) != wsframe.OpText && wsframe.Opcode(op) != wsframe.OpBinary) {
		return hub.Envelope{}, false
	}
	var policy int
	if p := m.Header.Get(hdrPolicy); p != "" {
		if policy, err = strconv.Atoi(p); err != nil || policy < 0 || policy > 255 {
			return hub.Envelope{}, false
		}
	}
	if _, ok := m.Header[hdrTopic]; !ok || m.Header.Get(hdrOrigin) == "" {
		return hub.Envelope{}, false
	}
	return hub.Envelope{
		Topic:  m.Header.Get(hdrTopic),
		Origin: m.Header.Get(hdrOrigin),
		Op:     wsframe.Opcode(op),
		Policy: hub.Policy(policy),
		Key:    m.Header.Get(hdrKey),
		Data:   m.Data,
	}, true
}

// Flush waits until the server has processed everything sent so far (the
// subscriptions included), or for the timeout.
func (b *Broker) Flush(timeout time.Duration) error {
	nc := b.Conn()
	if nc == nil {
		return errNotOpen
	}
	return nc.FlushTimeout(timeout)
}

// Close flushes what is buffered (bounded) and closes the connection.
func (b *Broker) Close() error {
	b.mu.Lock()
	nc := b.nc
	b.nc = nil
	b.subs = map[string]*nats.Subscription{}
	b.mu.Unlock()
	if nc == nil {
		return nil
	}
	if nc.IsConnected() {
		nc.FlushTimeout(time.Second)
	}
	nc.Close()
	return nil
}
