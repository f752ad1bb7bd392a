package fsm

import (
	"fmt"
	"strings"
)

// Dot renders the machine as a Graphviz digraph. The start state has an
// incoming arrow, accepting states are double circles, stop states double
// octagons, error states red boxes labelled with their rule, bulk states
// dashed. Edge labels are the
// byte set, then the actions after a slash. A failing action is a red dotted
// edge to its error state, labelled like the transition that runs it with
// "fails" after the action; a limit, a red dotted edge from "any state".
// Output is deterministic.
func (m *Machine) Dot() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", m.Name)
	b.WriteString("\trankdir=LR;\n\tnode [shape=circle, fontname=\"Helvetica\"];\n\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	if start := m.Start(); start != nil {
		fmt.Fprintf(&b, "\t__start [shape=point];\n\t__start -> %s;\n", start.Name)
	}
	for _, s := range m.states {
		attrs := []string{}
		switch {
		case s.IsError():
			attrs = append(attrs, "shape=box", "color=red", fmt.Sprintf("label=%q", s.Name+"\\n"+s.Rule))
		case s.Bulk != nil:
			attrs = append(attrs, "style=dashed")
		}
		if s.Stop {
			attrs = append(attrs, "shape=doubleoctagon")
		} else if s.Accepting {
			attrs = append(attrs, "shape=doublecircle")
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "\t%s [%s];\n", s.Name, strings.Join(attrs, ", "))
		} else {
			fmt.Fprintf(&b, "\t%s;\n", s.Name)
		}
	}
	for _, s := range m.states {
		for _, t := range s.Trans {
			fmt.Fprintf(&b, "\t%s -> %s [label=%q];\n", s.Name, t.To, edgeLabel(t.Label(), t.Actions))
			m.dotFailures(&b, s, t.Label(), t.Actions)
		}
		if s.Bulk != nil {
			fmt.Fprintf(&b, "\t%s -> %s [style=dashed, label=%q];\n", s.Name, s.Name, s.Bulk.Counter+" bytes, in bulk")
			fmt.Fprintf(&b, "\t%s -> %s [style=dashed, label=%q];\n", s.Name, s.Bulk.Exit,
				edgeLabel(s.Bulk.Counter+" = 0", s.Bulk.Actions))
			m.dotFailures(&b, s, s.Bulk.Counter+" = 0", s.Bulk.Actions)
		}
	}
	if len(m.limits) > 0 {
		// A limit can stop the machine in any live state: one edge from
		// a stand-in for them all, rather than one from every state.
		b.WriteString("\t__any [shape=plaintext, label=\"any state\"];\n")
		for _, l := range m.limits {
			fmt.Fprintf(&b, "\t__any -> %s [style=dotted, color=red, label=%q];\n", l.To, l.Note)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotFailures draws an edge to the error state of each action that can fail
// among actions: the actions up to the failing one, and "fails".
func (m *Machine) dotFailures(b *strings.Builder, s *State, on string, actions []string) {
	for i, a := range actions {
		to, ok := m.fallible[a]
		if !ok {
			continue
		}
		label := edgeLabel(on, actions[:i+1]) + " fails"
		fmt.Fprintf(b, "\t%s -> %s [style=dotted, color=red, label=%q];\n", s.Name, to, label)
	}
}

func edgeLabel(on string, actions []string) string {
	if len(actions) == 0 {
		return on
	}
	return on + " / " + strings.Join(actions, ", ")
}
