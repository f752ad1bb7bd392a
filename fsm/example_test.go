package fsm_test

import (
	"fmt"

	"github.com/wsfsm/wsfsm/fsm"
)

// A machine that accepts one or more ASCII digits: declared, checked, then
// run by hand over a few inputs. wsfsm/gen declares the frame, UTF-8 and
// HTTP head machines this way and emits Go code and Dot pictures from them.
func Example() {
	m := fsm.New("Number", "one or more ASCII digits")
	digits := fsm.Range('0', '9')
	m.State("Start", "nothing read yet").
		On(digits, "Digits", "digit").
		Otherwise("NotDigit")
	m.State("Digits", "after a digit").Accept().
		On(digits, "Digits", "digit").
		Otherwise("NotDigit")
	m.Fail("NotDigit", "ErrNotDigit", "a byte that is not a digit")
	if err := m.Check(); err != nil { // total, deterministic, reachable, can finish
		fmt.Println(err)
		return
	}

	for _, in := range []string{"2026", "", "12a4"} {
		s := m.Start()
		for i := 0; i < len(in) && !s.IsError(); i++ {
			t, _ := s.Next(in[i]) // every state is total: there is a transition
			s = m.Lookup(t.To)
		}
		fmt.Printf("%q: state %s, accepted %v\n", in, s.Name, s.Accepting)
	}
	fmt.Println(digits, m.Actions())
	// Output:
	// "2026": state Digits, accepted true
	// "": state Start, accepted false
	// "12a4": state NotDigit, accepted false
	// 0x30-0x39 [digit]
}

// Check reports every way a declaration is wrong, naming the state.
func ExampleMachine_Check() {
	m := fsm.New("Broken", "")
	m.State("Start", "").On(fsm.Range('a', 'z'), "End").On(fsm.Bytes('x'), "Start")
	m.State("End", "").Accept().Otherwise("End")
	m.State("Orphan", "").Accept().Otherwise("Orphan")
	fmt.Println(m.Check())
	// Output:
	// Broken: state Start: not deterministic: bytes 0x78 have more than one transition
	// Broken: state Start: not total: no transition on 0x00-0x60,0x7B-0xFF
	// Broken: state Orphan: unreachable from the start state Start
}
