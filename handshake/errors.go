package handshake

import "fmt"

// Rule names a handshake rule that was broken. Its constants, from
// ErrRequestLine on, are generated from the table in wsfsm/gen;
// errors.Is(err, handshake.ErrKey) works on any error that wraps one.
type Rule uint8

func (r Rule) valid() bool { return r > 0 && int(r) < len(ruleTable) }

// Error describes the rule.
func (r Rule) Error() string {
	if !r.valid() {
		return fmt.Sprintf("websocket handshake: rule %d", uint8(r))
	}
	return "websocket handshake: " + ruleTable[r].text
}

// String is the rule's Go name, e.g. "ErrKey".
func (r Rule) String() string {
	if !r.valid() {
		return fmt.Sprintf("Rule(%d)", uint8(r))
	}
	return ruleTable[r].name
}

// Status is the HTTP status a server answers with; 0 for client-side rules.
func (r Rule) Status() int {
	if !r.valid() {
		return 400
	}
	return ruleTable[r].code
}

// Cite says where the rule is written.
func (r Rule) Cite() string {
	if !r.valid() {
		return ""
	}
	return ruleTable[r].cite
}

// Error is a broken handshake rule with what was seen.
type Error struct {
	Rule   Rule
	Detail string // what was seen, when it helps (a header value, a status)
}

func (e *Error) Error() string {
	s := e.Rule.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s + " (" + e.Rule.Cite() + ")"
}

// Unwrap returns the Rule, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Rule }

// Status is the HTTP status to answer with.
func (e *Error) Status() int { return e.Rule.Status() }

func fail(r Rule, format string, a ...any) *Error {
	return &Error{Rule: r, Detail: fmt.Sprintf(format, a...)}
}
