// Package hub broadcasts messages to WebSocket connections by topic: a
// message is framed once (a wsconn.PreparedMessage) and the same bytes go to
// every subscriber; each subscriber has a bounded queue of its own, drained
// by its own writer, so a slow subscriber never stalls the publisher or any
// other subscriber. What happens when a queue is full is a Policy, picked
// per topic or per message. Several hubs (nodes, usually processes on
// several machines) exchange published messages through a Broker; the
// default reaches no other node, NewMemory connects hubs in one process, and
// the module github.com/wsfsm/wsfsm/natsbroker carries them over NATS.
//
// The way in: New, then for each connection NewSubscriber(conn) (a
// *wsconn.Conn is a Sink), Subscribe to topics, Close when the connection
// ends; Publish from anywhere. Publish and Send copy the message's Data:
// the caller may reuse it once they return. The root package wsfsm names
// the hub's types (wsfsm.NewHub, wsfsm.HubMessage, ...).
//
// # Delivery semantics
//
// On one node:
//   - Publish never waits for a subscriber: it frames the message, puts it
//     in the queue of every subscriber of the topic, and returns.
//   - Messages of one topic are queued in one order for every subscriber
//     of that topic on the node (publications on a topic are serialised),
//     and each subscriber is written its queue in order. So two subscribers
//     never see two messages of a topic in opposite orders, and one
//     goroutine's publications arrive in the order it made them.
//   - A message is written to a subscriber at most once. It is not written
//     at all when the queue's policy drops it (DropNewest, DropOldest), when
//     a newer message with the same key supersedes it (Coalesce; the newer
//     one takes its place in the queue), when the subscriber is evicted
//     (CloseSlow), unsubscribed or closed before its turn, or when a write
//     fails (the subscriber is then dropped). Counters say how many of each.
//   - A subscriber subscribed while a message is being published may or may
//     not get it; one unsubscribed after Unsubscribe returned gets no
//     message of that topic that is published later (those already queued
//     are still written).
//
// Across nodes (Broker): each node delivers what it publishes to its own
// subscribers directly and hands it to the broker for the others; a node
// never receives its own publications back (a node that did would drop
// them: each message carries its origin). What a node receives from the
// others is delivered to its subscribers like its own publications, so all
// the rules above hold on every node. The ordering guarantee across nodes is
// per publisher and per topic: what one goroutine publishes on a topic, one
// publication after the other, reaches every subscriber on every node in
// that order. Messages of different publishers (two nodes, or two
// goroutines publishing at the same time) may be interleaved differently on
// different nodes. Whether a message can be lost
// between nodes is the broker's: core NATS is at most once (see
// natsbroker).
package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Policy says what happens to a message that finds a subscriber's queue
// full.
type Policy uint8

const (
	// Default, in a Message, means the topic's policy (SetPolicy), else the
	// hub's (Options.Policy), else DropOldest.
	Default Policy = iota
	// DropOldest drops the oldest queued message to make room: a slow
	// subscriber sees the latest messages, with a gap.
	DropOldest
	// DropNewest drops the message that does not fit: a slow subscriber
	// sees a prefix, with a gap at the end.
	DropNewest
	// CloseSlow evicts the subscriber: its queue is discarded, it is
	// unsubscribed from everything, and once the write in progress (if
	// any) has ended it is sent a Close with 1008 (policy violation) and the
	// connection is closed (Sink.Close, bounded by the connection's close
	// timeout).
	CloseSlow
	// Coalesce is for messages that carry state (presence, a score, a
	// cursor): a message with a Key supersedes the queued message with the
	// same key that has not been written yet, taking its place in the
	// queue; the older one is never written. This applies whether or not the
	// queue is full, so a subscriber holds at most one message per key. A
	// message with no queued namesake that finds the queue full drops the
	// oldest queued message (as DropOldest).
	Coalesce
)

func (p Policy) String() string {
	switch p {
	case Default:
		return "default"
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case CloseSlow:
		return "close-slow"
	case Coalesce:
		return "coalesce"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// Message is what is published. Publish and Send copy Data (they frame
// it): the caller may reuse it once they return.
type Message struct {
	// Op is wsframe.OpText or wsframe.OpBinary; 0 means OpText.
	Op   wsframe.Opcode
	Data []byte
	// Policy applies when a subscriber's queue is full; Default: the
	// topic's.
	Policy Policy
	// Key identifies what a Coalesce message supersedes (required with
	// Coalesce; ignored otherwise).
	Key string
}

// Sink is where a subscriber's messages go. *wsconn.Conn is one. The hub
// calls WritePrepared from one goroutine at a time per subscriber, with the
// messages queued at that moment (up to 32; each is a message of its own),
// Close
// once when it evicts the subscriber, CloseNow once when a write failed (the
// connection may be in the middle of a frame: no Close frame can follow).
// If the sink has a SetWriteDeadline(time.Time) error method (a
// *wsconn.Conn does), every write is bounded by Options.WriteTimeout.
type Sink interface {
	WritePrepared(pms ...*wsconn.PreparedMessage) error
	Close(code wsframe.CloseCode, reason string) error
	CloseNow() error
}

type deadliner interface {
	SetWriteDeadline(t time.Time) error
}

// Options configure a Hub. Zero fields take the defaults.
type Options struct {
	// QueueSize bounds each subscriber's queue, in messages (default 64).
	QueueSize int
	// Policy is the full-queue policy of topics without one of their own
	// (default DropOldest).
	Policy Policy
	// WriteTimeout bounds each write to a subscriber whose Sink takes
	// deadlines (default 10 s); a subscriber whose write fails or times out
	// is dropped.
	WriteTimeout time.Duration
	// EvictTimeout is how long an evicted subscriber (CloseSlow) has to
	// take the message being written to it, if any, before its Close is
	// sent; past it the connection is dropped without one (default 2 s;
	// only for sinks that take deadlines).
	EvictTimeout time.Duration
	// Broker connects this hub to the others (default: none; the hub is
	// the only node). New calls its Open; Close closes it.
	Broker Broker
	// OnEvict, when set, is called on a goroutine of its own as a
	// subscriber is evicted by CloseSlow, with the topic whose message did
	// not fit ("" for Send); its Close follows once the write in progress,
	// if any, has ended. OnDrop is called when a write fails and the
	// subscriber is dropped.
	OnEvict func(s *Subscriber, topic string)
	OnDrop  func(s *Subscriber, err error)
}

// Defaults.
const (
	DefaultQueueSize    = 64
	DefaultWriteTimeout = 10 * time.Second
	DefaultEvictTimeout = 2 * time.Second
)

// Stats are the hub's counters since New. Subscribers and Topics are
// current values; the others only grow.
type Stats struct {
	Subscribers int64 // subscribers open now
	Topics      int64 // topics with at least one subscriber on this node
	Published   int64 // messages published on this node
	Received    int64 // messages received from other nodes through the broker
	BrokerErrs  int64 // publications the broker refused
	Queued      int64 // messages put in a subscriber's queue
	Written     int64 // messages written to a subscriber
	Dropped     int64 // messages dropped by DropOldest, DropNewest or Coalesce's fallback
	Coalesced   int64 // messages superseded by a newer one with the same key
	Discarded   int64 // messages still queued when their subscriber was evicted, closed or dropped
	Evicted     int64 // subscribers evicted by CloseSlow
	WriteErrors int64 // writes that failed (the subscriber was dropped)
}

// Hub is a set of topics and their subscribers on one node. Use New.
type Hub struct {
	opts   Options
	id     string
	broker Broker

	mu       sync.Mutex // guards topics, policies, closed
	topics   map[string]*topic
	policies map[string]Policy
	closed   bool

	subscribers, topicCount                                   atomic.Int64
	published, received, brokerErrs, queued, written, dropped atomic.Int64
	coalesced, discarded, evicted, writeErrors                atomic.Int64
}

type topic struct {
	name string
	// mu serialises publications and membership changes of the topic: every
	// subscriber gets the topic's messages in one order.
	mu     sync.Mutex
	subs   map[*Subscriber]struct{}
	policy Policy
}

// ErrClosed is returned after the hub (or the subscriber) is closed.
var ErrClosed = errors.New("hub: closed")

// ErrNoKey is returned for a Coalesce message without a Key.
var ErrNoKey = errors.New("hub: a Coalesce message needs a Key")

// New returns a hub, connected to the others through o.Broker if set.
func New(o Options) (*Hub, error) {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Policy == Default {
		o.Policy = DropOldest
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.EvictTimeout <= 0 {
		o.EvictTimeout = DefaultEvictTimeout
	}
	var id [8]byte
	rand.Read(id[:])
	h := &Hub{opts: o, id: hex.EncodeToString(id[:]), broker: o.Broker, topics: map[string]*topic{}, policies: map[string]Policy{}}
	if h.broker == nil {
		h.broker = NewMemory().Broker() // a bus with one node: no one else
	}
	if err := h.broker.Open(h.id, h.receive); err != nil {
		return nil, err
	}
	return h, nil
}

// ID is the node's identity, carried by what it publishes through the
// broker.
func (h *Hub) ID() string { return h.id }

// SetPolicy sets topic's full-queue policy, for its messages published with
// Default.
func (h *Hub) SetPolicy(name string, p Policy) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p == Default {
		delete(h.policies, name)
	} else {
		h.policies[name] = p
	}
	if t := h.topics[name]; t != nil {
		t.mu.Lock()
		t.policy = h.policyOf(name)
		t.mu.Unlock()
	}
}

func (h *Hub) policyOf(name string) Policy {
	if p, ok := h.policies[name]; ok {
		return p
	}
	return h.opts.Policy
}

// Stats reads the counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Subscribers: h.subscribers.Load(), Topics: h.topicCount.Load(),
		Published: h.published.Load(), Received: h.received.Load(), BrokerErrs: h.brokerErrs.Load(),
		Queued: h.queued.Load(), Written: h.written.Load(), Dropped: h.dropped.Load(),
		Coalesced: h.coalesced.Load(), Discarded: h.discarded.Load(), Evicted: h.evicted.Load(),
		WriteErrors: h.writeErrors.Load(),
	}
}

// Publish sends m to every subscriber of the topic on this node and, through
// the broker, on the others. It never waits for a subscriber. The error is
// about m (a bad opcode, a Coalesce without a key), a closed hub, or the
// broker refusing it; local subscribers have their copy whatever the
// broker says.
func (h *Hub) Publish(name string, m Message) error {
	pm, err := prepare(m)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	t := h.topics[name]
	h.mu.Unlock()
	h.published.Add(1)
	if t != nil {
		t.deliver(h, pm, m.Policy, m.Key)
	}
	if err := h.broker.Publish(Envelope{Topic: name, Origin: h.id, Op: pm.Opcode(), Policy: m.Policy, Key: m.Key, Data: pm.Payload()}); err != nil {
		h.brokerErrs.Add(1)
		return err
	}
	return nil
}

func prepare(m Message) (*wsconn.PreparedMessage, error) {
	if m.Policy == Coalesce && m.Key == "" {
		return nil, ErrNoKey
	}
	op := m.Op
	if op == 0 {
		op = wsframe.OpText
	}
	return wsconn.NewPreparedMessage(op, m.Data)
}

// receive delivers a message another node published.
func (h *Hub) receive(e Envelope) {
	if e.Origin == h.id {
		return // our own, come back: it was delivered here when published
	}
	m := Message{Op: e.Op, Data: e.Data, Policy: e.Policy, Key: e.Key}
	if m.Policy > Coalesce || (m.Policy == Coalesce && m.Key == "") {
		m.Policy = Default // from a node that knows more policies than we do
	}
	pm, err := prepare(m)
	if err != nil {
		h.brokerErrs.Add(1)
		return
	}
	h.received.Add(1)
	h.mu.Lock()
	t := h.topics[e.Topic]
	h.mu.Unlock()
	if t != nil {
		t.deliver(h, pm, m.Policy, m.Key)
	}
}

func (t *topic) deliver(h *Hub, pm *wsconn.PreparedMessage, p Policy, key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p == Default {
		p = t.policy
	}
	for s := range t.subs {
		s.enqueue(pm, p, key, t.name)
	}
}

// Subscriber is one connection's membership in the hub: its topics and its
// queue. Use Hub.NewSubscriber.
type Subscriber struct {
	h    *Hub
	sink Sink

	mu       sync.Mutex
	topics   map[string]*topic
	q        []entry // ring of queued messages
	head, n  int
	seq      uint64                    // sequence number of q[head]
	keys     map[string]uint64         // Coalesce key -> sequence number of its queued message
	writing  bool                      // a writer goroutine is draining q
	inFlight int                       // messages the writer took from q and is writing
	batch    []*wsconn.PreparedMessage // the writer's, kept between its runs (cleared after each write)
	state    subState
	reason   string // for the eviction's Close
	evictOn  string // the topic whose message did not fit
	written  int64
	dropped  int64
}

type entry struct {
	pm  *wsconn.PreparedMessage
	key string
}

type subState uint8

const (
	open subState = iota
	evicting
	done
)

// NewSubscriber registers a connection with the hub and subscribes it to
// topics (Subscribe adds more later). Close the subscriber when the
// connection ends.
func (h *Hub) NewSubscriber(sink Sink, topics ...string) (*Subscriber, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.subscribers.Add(1)
	s := &Subscriber{h: h, sink: sink, topics: map[string]*topic{}}
	h.mu.Unlock()
	for _, name := range topics {
		if err := s.Subscribe(name); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Sink is the subscriber's sink.
func (s *Subscriber) Sink() Sink { return s.sink }

// Written and Dropped count this subscriber's messages written, and those
// dropped or superseded in its queue.
func (s *Subscriber) Written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

func (s *Subscriber) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Pending is the number of messages waiting for this subscriber, the one
// being written included.
func (s *Subscriber) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n + s.inFlight
}

// Subscribe adds the subscriber to the topic (nothing if it is there).
func (s *Subscriber) Subscribe(name string) error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	s.mu.Lock()
	if s.state != open {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := s.topics[name]; ok {
		s.mu.Unlock()
		return nil
	}
	t := h.topics[name]
	if t == nil {
		// The first subscriber on this node: ask the broker for the others'
		// messages on the topic.
		if err := h.broker.Subscribe(name); err != nil {
			s.mu.Unlock()
			return err
		}
		t = &topic{name: name, subs: map[*Subscriber]struct{}{}, policy: h.policyOf(name)}
		h.topics[name] = t
		h.topicCount.Add(1)
	}
	s.topics[name] = t
	s.mu.Unlock()
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	return nil
}

// Unsubscribe removes the subscriber from the topic. Once it returns, no
// message of the topic published later is queued for it.
func (s *Subscriber) Unsubscribe(name string) error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	t := s.topics[name]
	delete(s.topics, name)
	s.mu.Unlock()
	if t == nil {
		return nil
	}
	return h.leave(t, s)
}

// leave removes s from t, and t from the hub when it was its last
// subscriber. h.mu is held.
func (h *Hub) leave(t *topic, s *Subscriber) error {
	t.mu.Lock()
	delete(t.subs, s)
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if !empty || h.topics[t.name] != t {
		return nil
	}
	delete(h.topics, t.name)
	h.topicCount.Add(-1)
	if h.closed {
		return nil
	}
	return h.broker.Unsubscribe(t.name)
}

// Send queues m for this subscriber alone (a reply), under the same queue
// and policies as what it receives from its topics.
func (s *Subscriber) Send(m Message) error {
	pm, err := prepare(m)
	if err != nil {
		return err
	}
	p := m.Policy
	if p == Default {
		p = s.h.opts.Policy
	}
	if !s.enqueue(pm, p, m.Key, "") {
		return ErrClosed
	}
	return nil
}

// Close unsubscribes s from everything and discards its queue; a write in
// progress finishes. It does not close the sink: the caller owns the
// connection (Close is what its read loop calls when the connection ends).
func (s *Subscriber) Close() {
	s.mu.Lock()
	if s.state == done {
		s.mu.Unlock()
		return
	}
	attached := s.state != done // open, or evicted and not yet detached by the writer
	s.state = done
	s.discardLocked()
	s.mu.Unlock()
	if attached {
		s.detach()
	}
}

// detach removes s from its topics and the subscriber count (once, by
// whoever moved it out of the open state).
func (s *Subscriber) detach() {
	h := s.h
	h.mu.Lock()
	s.mu.Lock()
	topics := s.topics
	s.topics = map[string]*topic{}
	s.mu.Unlock()
	for _, t := range topics {
		h.leave(t, s)
	}
	h.mu.Unlock()
	h.subscribers.Add(-1)
}

func (s *Subscriber) discardLocked() {
	s.h.discarded.Add(int64(s.n))
	clear(s.q)
	s.head, s.n = 0, 0
	s.keys = nil
}

// enqueue queues pm under policy p; false when s no longer takes messages.
func (s *Subscriber) enqueue(pm *wsconn.PreparedMessage, p Policy, key string, topic string) bool {
	h := s.h
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != open {
		return false
	}
	if p == Coalesce {
		if seq, ok := s.keys[key]; ok && seq >= s.seq {
			s.q[s.slot(seq)].pm = pm
			s.dropped++
			h.coalesced.Add(1)
			return true
		}
	}
	if s.n == s.h.opts.QueueSize {
		switch p {
		case DropNewest:
			s.dropped++
			h.dropped.Add(1)
			return true
		case CloseSlow:
			s.state = evicting
			s.discardLocked()
			h.evicted.Add(1)
			if h.opts.OnEvict != nil {
				go h.opts.OnEvict(s, topic)
			}
			if s.inFlight > 0 {
				s.shortenWrite()
			}
			s.startWriter()
			return true
		default: // DropOldest, Coalesce without a namesake
			s.pop()
			s.dropped++
			h.dropped.Add(1)
		}
	}
	if s.n == len(s.q) {
		s.grow()
	}
	s.q[s.slot(s.seq+uint64(s.n))] = entry{pm: pm, key: key}
	if p == Coalesce {
		if s.keys == nil {
			s.keys = map[string]uint64{}
		}
		s.keys[key] = s.seq + uint64(s.n)
	}
	s.n++
	h.queued.Add(1)
	s.startWriter()
	return true
}

func (s *Subscriber) slot(seq uint64) int { return (s.head + int(seq-s.seq)) % len(s.q) }

// grow doubles the ring up to the queue size: an idle subscriber holds a
// small one.
func (s *Subscriber) grow() {
	size := min(max(2*len(s.q), 4), s.h.opts.QueueSize)
	q := make([]entry, size)
	for i := range s.n {
		q[i] = s.q[(s.head+i)%len(s.q)]
	}
	s.q, s.head = q, 0
}

// pop removes the queue's head.
func (s *Subscriber) pop() entry {
	e := s.q[s.head]
	s.q[s.head] = entry{}
	if e.key != "" && s.keys[e.key] == s.seq {
		delete(s.keys, e.key)
	}
	s.head = (s.head + 1) % len(s.q)
	s.n--
	s.seq++
	return e
}

// shortenWrite gives the write in progress to an evicted subscriber
// EvictTimeout to finish, so that its Close can follow soon or the
// connection be dropped.
func (s *Subscriber) shortenWrite() {
	if d, ok := s.sink.(deadliner); ok {
		d.SetWriteDeadline(time.Now().Add(s.h.opts.EvictTimeout))
	}
}

// startWriter starts the goroutine that drains the queue, unless it runs.
// An idle subscriber has none.
func (s *Subscriber) startWriter() {
	if !s.writing {
		s.writing = true
		go s.write()
	}
}

// maxBatch bounds the messages written in one call (one writev).
const maxBatch = 32

func (s *Subscriber) write() {
	h := s.h
	// The batch slice is the writer's, kept between runs: the next writer
	// starts after this one has put it back under s.mu.
	batch := s.batch
	for {
		s.mu.Lock()
		if s.state == evicting {
			s.state = done
			s.writing = false
			s.batch = batch[:0]
			s.mu.Unlock()
			s.detach()
			// Best effort: a reader that is slow, not dead, gets the
			// reason; the sink bounds the close handshake.
			s.sink.Close(wsframe.ClosePolicyViolation, "too slow: messages were not read in time")
			return
		}
		if s.n == 0 || s.state != open {
			s.writing = false
			s.batch = batch[:0]
			s.mu.Unlock()
			return
		}
		batch = batch[:0]
		for s.n > 0 && len(batch) < maxBatch {
			batch = append(batch, s.pop().pm)
		}
		s.inFlight = len(batch)
		s.mu.Unlock()
		if d, ok := s.sink.(deadliner); ok {
			d.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			s.mu.Lock()
			if s.state == evicting { // evicted since the message was taken
				s.shortenWrite()
			}
			s.mu.Unlock()
		}
		err := s.sink.WritePrepared(batch...)
		clear(batch) // hold no message past its write
		if err != nil {
			h.writeErrors.Add(1)
			s.mu.Lock()
			attached := s.state != done
			s.state = done
			s.writing = false
			s.batch = batch[:0]
			h.discarded.Add(int64(s.inFlight))
			s.inFlight = 0
			s.discardLocked()
			s.mu.Unlock()
			if attached {
				s.detach()
			}
			if h.opts.OnDrop != nil {
				h.opts.OnDrop(s, err)
			}
			s.sink.CloseNow()
			return
		}
		h.written.Add(int64(len(batch)))
		s.mu.Lock()
		s.written += int64(len(batch))
		s.inFlight = 0
		s.mu.Unlock()
	}
}

// Close closes the hub: no more subscribers or publications; the broker is
// closed. Subscribers are not closed (their connections are the caller's).
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	return h.broker.Close()
}
