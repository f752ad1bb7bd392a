// Package fsm models byte-driven finite state machines: named states,
// transitions on sets of byte values, named actions on transitions, error
// states that name the rule a byte broke, and "bulk" states that consume a
// counted run of bytes without looking at them (a frame's payload).
//
// The package knows nothing of WebSocket. A generator declares machines with
// it, checks them with Check, draws them with Dot, and emits code from them.
// The first state declared is the start state.
package fsm

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Machine is a byte-driven state machine under construction or complete.
type Machine struct {
	Name string // Go-style identifier, e.g. "ServerFrame"
	Doc  string

	states []*State
	byName map[string]*State
	errs   []error // problems found while declaring
}

// State is one state of a Machine.
type State struct {
	Name string
	Doc  string // "the state after reading …"

	// Accepting marks a state where the input may end cleanly.
	Accepting bool
	// Rule is set on error states: entering one reports the named rule and
	// the machine stays there.
	Rule string
	// Trans are the transitions on input bytes, in declaration order.
	Trans []Transition
	// Bulk is set on states that consume bytes in bulk; they have no Trans.
	Bulk *Bulk
	// Stop marks a final state where the machine hands the rest of the
	// input to something else (the frames after an HTTP head). It is
	// accepting and has no transitions.
	Stop bool

	m     *Machine
	index int
}

// Transition moves to state To on any byte of On, running Actions in order.
type Transition struct {
	On      ByteSet
	To      string
	Actions []string
	Note    string // what the bytes mean, for pictures and comments; optional
}

// Label describes On in words when Note is set, else lists the bytes.
func (t Transition) Label() string {
	if t.Note != "" {
		return t.Note
	}
	return t.On.String()
}

// Bulk describes a state that consumes up to Counter bytes in one go, without
// stepping per byte; when the counter reaches zero the machine moves to Exit
// (without consuming a byte) and runs Actions.
type Bulk struct {
	Counter string
	Exit    string
	Actions []string
}

// New starts a machine.
func New(name, doc string) *Machine {
	return &Machine{Name: name, Doc: doc, byName: map[string]*State{}}
}

// State declares a state. The first state declared is the start state.
func (m *Machine) State(name, doc string) *State {
	if _, dup := m.byName[name]; dup {
		m.errs = append(m.errs, fmt.Errorf("%s: state %s declared twice", m.Name, name))
	}
	s := &State{Name: name, Doc: doc, m: m, index: len(m.states)}
	m.states = append(m.states, s)
	m.byName[name] = s
	return s
}

// Fail declares an error state that reports rule when entered.
func (m *Machine) Fail(name, rule, doc string) *State {
	s := m.State(name, doc)
	s.Rule = rule
	return s
}

// Accept marks s accepting and returns it.
func (s *State) Accept() *State { s.Accepting = true; return s }

// On adds a transition and returns s, so declarations chain.
func (s *State) On(set ByteSet, to string, actions ...string) *State {
	s.Trans = append(s.Trans, Transition{On: set, To: to, Actions: actions})
	return s
}

// Note sets the description of the transition added last.
func (s *State) Note(text string) *State {
	if n := len(s.Trans); n > 0 {
		s.Trans[n-1].Note = text
	}
	return s
}

// Otherwise adds a transition on every byte not yet covered by s.
func (s *State) Otherwise(to string, actions ...string) *State {
	return s.On(All().Minus(s.covered()), to, actions...)
}

// BulkUntil makes s a bulk state over counter, leaving for exit.
func (s *State) BulkUntil(counter, exit string, actions ...string) *State {
	s.Bulk = &Bulk{Counter: counter, Exit: exit, Actions: actions}
	return s
}

// StopHere makes s a stop state: accepting, without transitions.
func (s *State) StopHere() *State {
	s.Stop, s.Accepting = true, true
	return s
}

// IsError reports whether s is an error state.
func (s *State) IsError() bool { return s.Rule != "" }

// Index is the state's position in declaration order (0 is the start).
func (s *State) Index() int { return s.index }

func (s *State) covered() ByteSet {
	var c ByteSet
	for _, t := range s.Trans {
		c = c.Union(t.On)
	}
	return c
}

// States returns the states in declaration order.
func (m *Machine) States() []*State { return m.states }

// Start returns the start state (nil for an empty machine).
func (m *Machine) Start() *State {
	if len(m.states) == 0 {
		return nil
	}
	return m.states[0]
}

// Lookup returns the named state or nil.
func (m *Machine) Lookup(name string) *State { return m.byName[name] }

// Next returns the transition s takes on b, if any.
func (s *State) Next(b byte) (Transition, bool) {
	for _, t := range s.Trans {
		if t.On.Has(b) {
			return t, true
		}
	}
	return Transition{}, false
}

// Actions lists every action name used by the machine, sorted.
func (m *Machine) Actions() []string {
	seen := map[string]bool{}
	for _, s := range m.states {
		for _, t := range s.Trans {
			for _, a := range t.Actions {
				seen[a] = true
			}
		}
		if s.Bulk != nil {
			for _, a := range s.Bulk.Actions {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Check verifies that the machine is well formed and reports every problem,
// each naming the state concerned:
//   - a transition or bulk exit to an undeclared state;
//   - a non-deterministic state (a byte in two transitions);
//   - a state that is not total (some byte has no transition), except error
//     states (sinks), stop states and bulk states;
//   - an error state with transitions, a stop state with transitions, or a
//     bulk state with byte transitions;
//   - an unreachable state;
//   - a state from which no accepting state can be reached (error states
//     are exempt: they are where the machine stops by design).
func (m *Machine) Check() error {
	errs := append([]error(nil), m.errs...)
	bad := func(s *State, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: state %s: %s", m.Name, s.Name, fmt.Sprintf(format, a...)))
	}
	if len(m.states) == 0 {
		return fmt.Errorf("%s: no states", m.Name)
	}
	for _, s := range m.states {
		for _, t := range s.Trans {
			if m.byName[t.To] == nil {
				bad(s, "transition on %v to undeclared state %s", t.On, t.To)
			}
			if t.On.Empty() {
				bad(s, "transition to %s on no byte", t.To)
			}
		}
		switch {
		case s.IsError():
			if len(s.Trans) > 0 || s.Bulk != nil || s.Stop {
				bad(s, "error state has transitions")
			}
			continue
		case s.Stop:
			if len(s.Trans) > 0 || s.Bulk != nil {
				bad(s, "stop state has transitions")
			}
			continue
		case s.Bulk != nil:
			if len(s.Trans) > 0 {
				bad(s, "bulk state has byte transitions")
			}
			if m.byName[s.Bulk.Exit] == nil {
				bad(s, "bulk exit to undeclared state %s", s.Bulk.Exit)
			}
			if s.Bulk.Exit == s.Name {
				bad(s, "bulk state exits to itself: a loop that consumes no input")
			}
			continue
		}
		var seen ByteSet
		for _, t := range s.Trans {
			if overlap := seen.Intersect(t.On); !overlap.Empty() {
				bad(s, "not deterministic: bytes %v have more than one transition", overlap)
			}
			seen = seen.Union(t.On)
		}
		if missing := All().Minus(seen); !missing.Empty() {
			bad(s, "not total: no transition on %v", missing)
		}
	}
	reach := m.reachable()
	for _, s := range m.states {
		if !reach[s] {
			bad(s, "unreachable from the start state %s", m.states[0].Name)
		}
	}
	live := m.coReachable()
	for _, s := range m.states {
		if !s.IsError() && !live[s] {
			bad(s, "no accepting state can be reached from it")
		}
	}
	return errors.Join(errs...)
}

func (m *Machine) successors(s *State) []*State {
	var out []*State
	for _, t := range s.Trans {
		if to := m.byName[t.To]; to != nil {
			out = append(out, to)
		}
	}
	if s.Bulk != nil {
		if to := m.byName[s.Bulk.Exit]; to != nil {
			out = append(out, to)
		}
	}
	return out
}

func (m *Machine) reachable() map[*State]bool {
	seen := map[*State]bool{m.states[0]: true}
	work := []*State{m.states[0]}
	for len(work) > 0 {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		for _, to := range m.successors(s) {
			if !seen[to] {
				seen[to] = true
				work = append(work, to)
			}
		}
	}
	return seen
}

func (m *Machine) coReachable() map[*State]bool {
	preds := map[*State][]*State{}
	var work []*State
	live := map[*State]bool{}
	for _, s := range m.states {
		for _, to := range m.successors(s) {
			preds[to] = append(preds[to], s)
		}
		if s.Accepting {
			live[s] = true
			work = append(work, s)
		}
	}
	for len(work) > 0 {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		for _, p := range preds[s] {
			if !live[p] {
				live[p] = true
				work = append(work, p)
			}
		}
	}
	return live
}

// Classes partitions the 256 byte values into equivalence classes: two bytes
// share a class when every state treats them alike (same target, same
// actions). Classes are numbered in order of their smallest byte, so the
// result is deterministic. Table-driven code indexes a transition table by
// class instead of by byte.
func (m *Machine) Classes() (class [256]uint8, n int) {
	sigs := map[string]int{}
	for b := 0; b < 256; b++ {
		var sig strings.Builder
		for _, s := range m.states {
			if t, ok := s.Next(byte(b)); ok {
				fmt.Fprintf(&sig, "%s/%s;", t.To, strings.Join(t.Actions, ","))
			} else {
				sig.WriteString("-;")
			}
		}
		id, ok := sigs[sig.String()]
		if !ok {
			id = len(sigs)
			sigs[sig.String()] = id
		}
		class[b] = uint8(id)
	}
	return class, len(sigs)
}
