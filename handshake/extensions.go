package handshake

import (
	"strconv"
	"strings"
)

// Extension is one element of a Sec-WebSocket-Extensions list (RFC 6455
// §9.1): a name and its parameters, in order.
type Extension struct {
	Name   string
	Params []Param
}

// Param is an extension parameter; HasValue is false for a bare name.
type Param struct {
	Name     string
	Value    string // unquoted
	HasValue bool
}

// String formats the extension as it goes on the wire, quoting values that
// are not tokens.
func (e Extension) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	for _, p := range e.Params {
		b.WriteString("; ")
		b.WriteString(p.Name)
		if p.HasValue {
			b.WriteByte('=')
			if isToken(p.Value) {
				b.WriteString(p.Value)
			} else {
				b.WriteString(strconv.Quote(p.Value))
			}
		}
	}
	return b.String()
}

// FormatExtensions joins extensions into one header value.
func FormatExtensions(exts []Extension) string {
	parts := make([]string, len(exts))
	for i, e := range exts {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

// ParseExtensions parses the values of every Sec-WebSocket-Extensions field,
// in order (repeated fields concatenate, RFC 9110 §5.3):
//
//	extension-list  = 1#extension
//	extension       = extension-token *( ";" extension-param )
//	extension-param = token [ "=" ( token / quoted-string ) ]
//
// A quoted value must be a token once unquoted (RFC 6455 §9.1). Empty list
// elements are skipped.
func ParseExtensions(values []string) ([]Extension, error) {
	var out []Extension
	for _, v := range values {
		p := extParser{s: v}
		for {
			p.ows()
			if p.eof() {
				break
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			e, err := p.extension()
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			p.ows()
			if p.eof() {
				break
			}
			if p.peek() != ',' {
				return nil, p.fail("expected ',' or end of list")
			}
			p.i++
		}
	}
	return out, nil
}

type extParser struct {
	s string
	i int
}

func (p *extParser) eof() bool  { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

func (p *extParser) ows() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *extParser) fail(what string) *Error {
	return fail(ErrExtensions, "%s at byte %d of %q", what, p.i, p.s)
}

func (p *extParser) token() (string, error) {
	start := p.i
	for !p.eof() && isTchar(p.peek()) {
		p.i++
	}
	if p.i == start {
		return "", p.fail("expected a token")
	}
	return p.s[start:p.i], nil
}

func (p *extParser) extension() (Extension, error) {
	name, err := p.token()
	if err != nil {
		return Extension{}, err
	}
	e := Extension{Name: name}
	for {
		p.ows()
		if p.eof() || p.peek() != ';' {
			return e, nil
		}
		p.i++
		p.ows()
		var prm Param
		if prm.Name, err = p.token(); err != nil {
			return e, err
		}
		p.ows()
		if !p.eof() && p.peek() == '=' {
			p.i++
			p.ows()
			prm.HasValue = true
			if prm.Value, err = p.value(); err != nil {
				return e, err
			}
		}
		e.Params = append(e.Params, prm)
	}
}

// value reads a token or a quoted-string whose content is a token.
func (p *extParser) value() (string, error) {
	if p.eof() || p.peek() != '"' {
		return p.token()
	}
	p.i++
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.fail("unterminated quoted string")
		}
		c := p.peek()
		p.i++
		switch {
		case c == '"':
			if !isToken(b.String()) {
				return "", p.fail("quoted value is not a token")
			}
			return b.String(), nil
		case c == '\\':
			if p.eof() {
				return "", p.fail("unterminated quoted string")
			}
			b.WriteByte(p.peek())
			p.i++
		default:
			b.WriteByte(c)
		}
	}
}

// isTchar: RFC 9110 §5.6.2.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}
