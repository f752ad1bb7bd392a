// Package fsm models byte-driven finite state machines: named states,
// transitions on sets of byte values, named actions on transitions, error
// states that name the rule a byte broke, and "bulk" states that consume a
// counted run of bytes without looking at them (a frame's payload).
//
// An action may fail (a length over a limit, a bit the configuration does
// not allow): Fallible names the error state the machine enters when it
// does, so every way an input can be rejected is a transition of the model,
// checked by Check and drawn by Dot, and the machine is in an error state
// (dead) after any failure.
//
// The package knows nothing of WebSocket. A generator declares machines with
// it, checks them with Check, draws them with Dot, and emits code from them.
// The way in: New, then State and Fail (the first state declared is the
// start state), each state's On and Otherwise, then Check.
//
// States, Limits and a State's Trans are the machine's own slices, to read
// and not to change; Actions, Failures and ByteSet.Ranges return new ones.
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

	states   []*State
	byName   map[string]*State
	fallible map[string]string // action → error state entered when it fails
	limits   []Limit
	errs     []error // problems found while declaring
}

// Limit is a failure the code driving the machine detects outside its
// transitions, in whatever live state the machine is (a byte budget over
// the whole input, a line too long): the machine then enters the error
// state To. Note says what was exceeded.
type Limit struct {
	To   string
	Note string
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
	return &Machine{Name: name, Doc: doc, byName: map[string]*State{}, fallible: map[string]string{}}
}

// Fallible declares that action can fail, and that the machine then enters
// the error state errorState (declared with Fail), whichever transition ran
// the action. The actions after it on that transition do not run.
func (m *Machine) Fallible(action, errorState string) {
	if _, dup := m.fallible[action]; dup {
		m.errs = append(m.errs, fmt.Errorf("%s: action %s declared fallible twice", m.Name, action))
	}
	m.fallible[action] = errorState
}

// Limit declares that the driver may stop the machine in any state that is
// not an error or stop state, entering errorState (declared with Fail);
// note says what was exceeded.
func (m *Machine) Limit(errorState, note string) {
	for _, l := range m.limits {
		if l.To == errorState {
			m.errs = append(m.errs, fmt.Errorf("%s: limit %s declared twice", m.Name, errorState))
		}
	}
	m.limits = append(m.limits, Limit{To: errorState, Note: note})
}

// Limits lists the limits in declaration order.
func (m *Machine) Limits() []Limit { return m.limits }

// FailState returns the error state the machine enters when action fails,
// and whether action can fail at all.
func (m *Machine) FailState(action string) (string, bool) {
	to, ok := m.fallible[action]
	return to, ok
}

// Failure is a way a transition can end in an error state instead of its
// target: Action, run on the transition, failed.
type Failure struct {
	Action string
	To     string // the error state
}

// Failures lists the failures of a transition running actions, in the order
// the actions run.
func (m *Machine) Failures(actions []string) []Failure {
	var out []Failure
	for _, a := range actions {
		if to, ok := m.fallible[a]; ok {
			out = append(out, Failure{Action: a, To: to})
		}
	}
	return out
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
//     are exempt: they are where the machine stops by design);
//   - a fallible action whose error state is undeclared or not an error
//     state, or that no transition runs; a limit whose error state is
//     undeclared or not an error state.
func (m *Machine) Check() error {
	errs := append([]error(nil), m.errs...)
	bad := func(s *State, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: state %s: %s", m.Name, s.Name, fmt.Sprintf(format, a...)))
	}
	if len(m.states) == 0 {
		return fmt.Errorf("%s: no states", m.Name)
	}
	run := map[string]bool{}
	for _, s := range m.states {
		for _, t := range s.Trans {
			for _, a := range t.Actions {
				run[a] = true
			}
		}
		if s.Bulk != nil {
			for _, a := range s.Bulk.Actions {
				run[a] = true
			}
		}
	}
	fallible := make([]string, 0, len(m.fallible))
	for a := range m.fallible {
		fallible = append(fallible, a)
	}
	sort.Strings(fallible)
	for _, a := range fallible {
		to := m.byName[m.fallible[a]]
		switch {
		case to == nil:
			errs = append(errs, fmt.Errorf("%s: action %s fails to undeclared state %s", m.Name, a, m.fallible[a]))
		case !to.IsError():
			errs = append(errs, fmt.Errorf("%s: action %s fails to %s, which is not an error state", m.Name, a, to.Name))
		}
		if !run[a] {
			errs = append(errs, fmt.Errorf("%s: action %s is declared fallible but no transition runs it", m.Name, a))
		}
	}
	for _, l := range m.limits {
		to := m.byName[l.To]
		switch {
		case to == nil:
			errs = append(errs, fmt.Errorf("%s: limit to undeclared state %s", m.Name, l.To))
		case !to.IsError():
			errs = append(errs, fmt.Errorf("%s: limit to %s, which is not an error state", m.Name, to.Name))
		}
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

// successors lists the states s can move to: its transitions' targets, its
// bulk exit, the error states of the actions that can fail on the way, and
// the limits' error states when s is live.
func (m *Machine) successors(s *State) []*State {
	var out []*State
	if !s.IsError() && !s.Stop {
		for _, l := range m.limits {
			if to := m.byName[l.To]; to != nil {
				out = append(out, to)
			}
		}
	}
	add := func(name string, actions []string) {
		if to := m.byName[name]; to != nil {
			out = append(out, to)
		}
		for _, f := range m.Failures(actions) {
			if to := m.byName[f.To]; to != nil {
				out = append(out, to)
			}
		}
	}
	for _, t := range s.Trans {
		add(t.To, t.Actions)
	}
	if s.Bulk != nil {
		add(s.Bulk.Exit, s.Bulk.Actions)
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
