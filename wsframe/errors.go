package wsframe

import (
	"errors"
	"fmt"
)

// Rule names a protocol rule a peer broke. Its constants, from
// ErrReservedOpcode on, are generated from the rule table in wsfsm/gen. A
// Rule is an error, so errors.Is(err, wsframe.ErrFrameTooBig) works on any
// error that wraps one.
type Rule uint8

// Error describes the rule.
func (r Rule) Error() string {
	if int(r) >= len(ruleTable) || r == 0 {
		return fmt.Sprintf("websocket: rule %d", uint8(r))
	}
	return "websocket: " + ruleTable[r].text
}

// String is the rule's Go name, e.g. "ErrReservedOpcode".
func (r Rule) String() string {
	if int(r) >= len(ruleTable) || r == 0 {
		return fmt.Sprintf("Rule(%d)", uint8(r))
	}
	return ruleTable[r].name
}

// Code is the close code to send when the peer broke the rule.
func (r Rule) Code() CloseCode {
	if int(r) >= len(ruleTable) || r == 0 {
		return CloseProtocolError
	}
	return ruleTable[r].code
}

// Cite says where the RFC states the rule.
func (r Rule) Cite() string {
	if int(r) >= len(ruleTable) || r == 0 {
		return ""
	}
	return ruleTable[r].cite
}

// Error is a rule violation at a position in the input.
type Error struct {
	Rule   Rule
	Offset int64 // index, in the whole stream, of the byte that proved it
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s at byte %d (%s; close %d)", e.Rule.Error(), e.Offset, e.Rule.Cite(), e.Rule.Code())
}

// Unwrap returns the Rule, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Rule }

// Code is the close code to send.
func (e *Error) Code() CloseCode { return e.Rule.Code() }

// CodeOf returns the close code err calls for, when err is or wraps a Rule.
func CodeOf(err error) (CloseCode, bool) {
	var r Rule
	if errors.As(err, &r) {
		return r.Code(), true
	}
	return 0, false
}
