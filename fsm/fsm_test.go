package fsm

import (
	"strings"
	"testing"
)

// parity is a small well-formed machine: it accepts inputs with an even
// number of 0x01 bytes and fails on 0xFF.
func parity() *Machine {
	m := New("Parity", "counts 0x01 bytes modulo two")
	m.State("Even", "an even number of 0x01 so far").Accept().
		On(Bytes(0x01), "Odd", "flip").
		On(Bytes(0xFF), "Bad").
		Otherwise("Even")
	m.State("Odd", "an odd number of 0x01 so far").
		On(Bytes(0x01), "Even", "flip").
		On(Bytes(0xFF), "Bad").
		Otherwise("Odd")
	m.Fail("Bad", "NoFF", "0xFF is never allowed")
	return m
}

func TestCheckAcceptsWellFormed(t *testing.T) {
	if err := parity().Check(); err != nil {
		t.Fatal(err)
	}
	m := New("Line", "a line, then whatever follows")
	m.State("Text", "").On(Bytes('\n'), "End").Otherwise("Text")
	m.State("End", "the rest is not ours").StopHere()
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
}

// Each case breaks the parity machine in one way and names the words the
// report must contain: the state and the kind of problem.
func TestCheckCatchesBrokenMachines(t *testing.T) {
	cases := []struct {
		name  string
		build func() *Machine
		want  []string
	}{
		{"not total", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().On(Range(0, 0x7F), "A")
			return m
		}, []string{"state A", "not total", "0x80-0xFF"}},
		{"not deterministic", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().On(Range(0, 0x10), "A").On(Range(0x10, 0xFF), "B")
			m.State("B", "").Accept().Otherwise("A")
			return m
		}, []string{"state A", "not deterministic", "0x10"}},
		{"unreachable", func() *Machine {
			m := parity()
			m.State("Island", "").Accept().Otherwise("Island")
			return m
		}, []string{"state Island", "unreachable"}},
		{"cannot reach accepting", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().On(Bytes(0), "Trap").Otherwise("A")
			m.State("Trap", "").Otherwise("Trap")
			return m
		}, []string{"state Trap", "no accepting state"}},
		{"undeclared target", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().Otherwise("Nowhere")
			return m
		}, []string{"state A", "undeclared state Nowhere"}},
		{"duplicate state", func() *Machine {
			m := parity()
			m.State("Odd", "").Accept().Otherwise("Even")
			return m
		}, []string{"state Odd declared twice"}},
		{"error state with transitions", func() *Machine {
			m := parity()
			m.Lookup("Bad").Otherwise("Even")
			return m
		}, []string{"state Bad", "error state has transitions"}},
		{"bulk loop without input", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().Otherwise("Body")
			m.State("Body", "").BulkUntil("n", "Body")
			return m
		}, []string{"state Body", "consumes no input"}},
		{"stop with transitions", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().Otherwise("End")
			m.State("End", "").StopHere().Otherwise("A")
			return m
		}, []string{"state End", "stop state has transitions"}},
		{"fallible action to an undeclared state", func() *Machine {
			m := parity()
			m.Fallible("flip", "Nowhere")
			return m
		}, []string{"action flip fails to undeclared state Nowhere"}},
		{"fallible action to a live state", func() *Machine {
			m := parity()
			m.Fallible("flip", "Even")
			return m
		}, []string{"action flip fails to Even, which is not an error state"}},
		{"fallible action never run", func() *Machine {
			m := parity()
			m.Fallible("count", "Bad")
			return m
		}, []string{"action count is declared fallible but no transition runs it"}},
		{"fallible twice", func() *Machine {
			m := limited()
			m.Fallible("count", "Bad")
			return m
		}, []string{"action count declared fallible twice"}},
		{"error state reached only by an undeclared failure", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().Otherwise("A", "count")
			m.Fail("TooMany", "Limit", "")
			return m
		}, []string{"state TooMany", "unreachable"}},
		{"limit to a live state", func() *Machine {
			m := parity()
			m.Limit("Odd", "too long")
			return m
		}, []string{"limit to Odd, which is not an error state"}},
		{"limit to an undeclared state", func() *Machine {
			m := parity()
			m.Limit("Nowhere", "too long")
			return m
		}, []string{"limit to undeclared state Nowhere"}},
		{"limit twice", func() *Machine {
			m := parity()
			m.Limit("Bad", "too long")
			m.Limit("Bad", "too long")
			return m
		}, []string{"limit Bad declared twice"}},
		{"bulk with byte transitions", func() *Machine {
			m := New("M", "")
			m.State("A", "").Accept().Otherwise("Body")
			m.State("Body", "").BulkUntil("n", "A").Otherwise("A")
			return m
		}, []string{"state Body", "bulk state has byte transitions"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.build().Check()
			if err == nil {
				t.Fatal("Check passed a broken machine")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("report %q does not mention %q", err, w)
				}
			}
		})
	}
}

// limited counts bytes with an action that fails at a limit: its error
// state has no byte transition into it, only the failure.
func limited() *Machine {
	m := New("Limited", "counts bytes up to a limit")
	m.State("Count", "").Accept().
		On(Bytes(0xFF), "Bad").
		Otherwise("Count", "count", "keep")
	m.Fail("Bad", "NoFF", "0xFF is never allowed")
	m.Fail("TooMany", "Limit", "the count passed the limit")
	m.Fallible("count", "TooMany")
	return m
}

// A failing action is a transition of the model: its error state is
// reachable through it, Failures names it, and the picture draws it.
func TestFallibleActionsAreTransitions(t *testing.T) {
	m := limited()
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if to, ok := m.FailState("count"); !ok || to != "TooMany" {
		t.Errorf("FailState(count) = %q, %v", to, ok)
	}
	if _, ok := m.FailState("keep"); ok {
		t.Error("keep cannot fail")
	}
	tr, _ := m.Lookup("Count").Next('a')
	if got := m.Failures(tr.Actions); len(got) != 1 || got[0] != (Failure{Action: "count", To: "TooMany"}) {
		t.Errorf("Failures = %+v", got)
	}
	d := m.Dot()
	want := `Count -> TooMany [style=dotted, color=red, label="0x00-0xFE / count fails"];`
	if !strings.Contains(d, want) {
		t.Errorf("DOT lacks %q:\n%s", want, d)
	}
	if strings.Contains(d, "keep fails") {
		t.Errorf("DOT draws a failure of keep:\n%s", d)
	}
}

func TestByteSet(t *testing.T) {
	s := Range(0x10, 0x1F).Union(Bytes(0x80, 0xFF))
	if got, want := s.String(), "0x10-0x1F,0x80,0xFF"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if s.Len() != 18 || !s.Has(0x80) || s.Has(0x20) {
		t.Errorf("Len/Has wrong for %v", s)
	}
	if got := All().Minus(s).Union(s); got != All() {
		t.Errorf("complement union is not All: %v", got)
	}
	if Where(func(b byte) bool { return b&0x80 != 0 }) != Range(0x80, 0xFF) {
		t.Error("Where disagrees with Range")
	}
	if !Range(5, 4).Empty() {
		t.Error("inverted range is not empty")
	}
}

func TestClassesSeparateExactlyTheBehaviours(t *testing.T) {
	class, n := parity().Classes()
	if n != 3 {
		t.Fatalf("parity has 3 byte classes (0x01, 0xFF, the rest), got %d", n)
	}
	if class[0x00] != class[0x7E] || class[0x01] == class[0x00] || class[0xFF] == class[0x00] || class[0x01] == class[0xFF] {
		t.Errorf("classes merge or split the wrong bytes: %v", class)
	}
}

func TestDot(t *testing.T) {
	d := parity().Dot()
	for _, w := range []string{
		"digraph Parity {",
		"__start -> Even;",
		"Even [shape=doublecircle];",
		`Bad [shape=box, color=red, label="Bad\\nNoFF"];`,
		`Even -> Odd [label="0x01 / flip"];`,
	} {
		if !strings.Contains(d, w) {
			t.Errorf("DOT lacks %q:\n%s", w, d)
		}
	}
	if d != parity().Dot() {
		t.Error("DOT output is not deterministic")
	}
}

// A limit makes its error state reachable from every live state, and the
// picture draws it once.
func TestLimitIsATransitionFromAnyLiveState(t *testing.T) {
	m := New("M", "")
	m.State("A", "").Accept().Otherwise("A")
	m.Fail("TooLong", "Limit", "the input passed the limit")
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "state TooLong: unreachable") {
		t.Fatalf("without the limit, TooLong must be unreachable: %v", err)
	}
	m.Limit("TooLong", "more than N bytes")
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if got := m.Limits(); len(got) != 1 || got[0] != (Limit{To: "TooLong", Note: "more than N bytes"}) {
		t.Errorf("Limits = %+v", got)
	}
	d := m.Dot()
	want := `__any -> TooLong [style=dotted, color=red, label="more than N bytes"];`
	if !strings.Contains(d, want) || strings.Count(d, "-> TooLong") != 1 {
		t.Errorf("DOT lacks %q once:\n%s", want, d)
	}
}
