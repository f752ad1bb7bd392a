package hub

import (
	"errors"
	"sync"

	"github.com/wsfsm/wsfsm/wsframe"
)

// Broker carries publications between the hubs of several nodes. A hub
// calls Open once, then Subscribe when a topic gets its first subscriber
// on the node and Unsubscribe when it loses its last, Publish for every
// message published on the node, and Close when the hub closes.
//
// A broker must:
//   - deliver, by calling the function given to Open, what other nodes
//     publish on the topics this node subscribed to, and never what this
//     node published itself (the hub also drops an Envelope whose Origin is
//     its own, so a broker that cannot filter its own echo stays correct);
//   - keep, for each publishing node and topic, the order of publication;
//   - call deliver from one goroutine at a time per topic (the hub's
//     delivery does not block).
//
// Publish must not block on a slow or absent peer; whether a message can be
// lost (for example while a node is disconnected) is the broker's to
// document.
type Broker interface {
	Open(node string, deliver func(Envelope)) error
	Subscribe(topic string) error
	Unsubscribe(topic string) error
	Publish(e Envelope) error
	Close() error
}

// Envelope is a published message on its way between nodes.
type Envelope struct {
	Topic  string
	Origin string // the publishing node's ID
	Op     wsframe.Opcode
	Policy Policy
	Key    string
	Data   []byte // not to be modified by anyone
}

// Memory is an in-process bus that connects hubs in one process, each
// through its own Broker (Memory.Broker). Delivery is synchronous, in the
// publisher's goroutine: nothing is lost, and each publisher's order is
// kept. It is the default broker (a bus with one node) and lets tests and
// single-process programs run several hubs.
type Memory struct {
	mu    sync.RWMutex
	nodes map[*memoryNode]struct{}
}

// NewMemory returns an empty bus.
func NewMemory() *Memory { return &Memory{nodes: map[*memoryNode]struct{}{}} }

// Broker returns a new node's endpoint on the bus.
func (m *Memory) Broker() Broker { return &memoryNode{bus: m} }

type memoryNode struct {
	bus     *Memory
	deliver func(Envelope)
	// topics is read by publishers on other nodes: guarded by bus.mu.
	topics map[string]struct{}
	// order serialises deliveries to this node: one at a time per node
	// (so one at a time per topic, as Broker requires).
	order sync.Mutex
}

var errNotOpen = errors.New("hub: broker not open")

func (n *memoryNode) Open(_ string, deliver func(Envelope)) error {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	n.deliver = deliver
	n.topics = map[string]struct{}{}
	n.bus.nodes[n] = struct{}{}
	return nil
}

func (n *memoryNode) Subscribe(topic string) error {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.topics == nil {
		return errNotOpen
	}
	n.topics[topic] = struct{}{}
	return nil
}

func (n *memoryNode) Unsubscribe(topic string) error {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	delete(n.topics, topic)
	return nil
}

func (n *memoryNode) Publish(e Envelope) error {
	n.bus.mu.RLock()
	if n.topics == nil {
		n.bus.mu.RUnlock()
		return errNotOpen
	}
	var to []*memoryNode
	for o := range n.bus.nodes {
		if _, ok := o.topics[e.Topic]; ok && o != n {
			to = append(to, o)
		}
	}
	n.bus.mu.RUnlock()
	for _, o := range to {
		o.order.Lock()
		o.deliver(e)
		o.order.Unlock()
	}
	return nil
}

func (n *memoryNode) Close() error {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	delete(n.bus.nodes, n)
	n.topics = nil
	return nil
}
