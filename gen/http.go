package main

import "github.com/wsfsm/wsfsm/fsm"

// headRules are the handshake's rules, with the HTTP status a server answers
// a violation with (0: a client-side rule, the handshake simply fails).
var headRules = []rule{
	// The head's syntax (RFC 9112), enforced by the machines.
	{"RequestLine", 400, "malformed request line", "RFC 9112 §3"},
	{"StatusLine", 0, "malformed status line", "RFC 9112 §4"},
	{"HeaderSyntax", 400, "malformed header field", "RFC 9112 §5"},
	{"SpaceBeforeColon", 400, "whitespace between header name and colon", "RFC 9112 §5.1"},
	{"ObsFold", 400, "header value folded over lines (obs-fold)", "RFC 9112 §5.2"},
	{"LineEnding", 400, "line not ended by CRLF", "RFC 9112 §2.2"},
	// Limits, enforced by the reader's actions.
	{"HeadTooLarge", 431, "request head larger than the limit", "RFC 6585 §5"},
	{"TooManyHeaders", 431, "more header fields than the limit", "RFC 6585 §5"},
	{"LineTooLong", 431, "header line longer than the limit", "RFC 6585 §5"},
	// The opening handshake, server side (RFC 6455 §4.2.1).
	{"Method", 400, "method is not GET", "RFC 6455 §4.2.1"},
	{"Version", 400, "HTTP version is older than 1.1", "RFC 6455 §4.2.1"},
	{"Target", 400, "request target is not a path (origin-form)", "RFC 6455 §4.2.1, §3"},
	{"Host", 400, "Host header missing or repeated", "RFC 6455 §4.2.1, RFC 9112 §3.2"},
	{"Upgrade", 400, "Upgrade header lacks the token websocket", "RFC 6455 §4.2.1"},
	{"Connection", 400, "Connection header lacks the token Upgrade", "RFC 6455 §4.2.1"},
	{"Key", 400, "Sec-WebSocket-Key is not the base64 of 16 bytes", "RFC 6455 §4.2.1"},
	{"WebSocketVersion", 426, "Sec-WebSocket-Version is not 13", "RFC 6455 §4.2.2"},
	{"Origin", 403, "Origin not allowed", "RFC 6455 §4.2.2, §10.2"},
	{"Extensions", 400, "malformed Sec-WebSocket-Extensions header", "RFC 6455 §9.1"},
	{"Protocols", 400, "malformed Sec-WebSocket-Protocol header", "RFC 6455 §4.2.1"},
	{"SelectedProtocol", 500, "the application selected a subprotocol the client did not offer", "RFC 6455 §4.2.2"},
	// The opening handshake, client side (RFC 6455 §4.1).
	{"Status", 0, "server did not answer 101 Switching Protocols", "RFC 6455 §4.1"},
	{"ResponseUpgrade", 0, "response Upgrade header lacks websocket", "RFC 6455 §4.1"},
	{"ResponseConnection", 0, "response Connection header lacks Upgrade", "RFC 6455 §4.1"},
	{"Accept", 0, "Sec-WebSocket-Accept does not match the key sent", "RFC 6455 §4.1"},
	{"UnofferedProtocol", 0, "server selected a subprotocol that was not offered", "RFC 6455 §4.1"},
	{"UnofferedExtension", 0, "server accepted an extension that was not offered", "RFC 6455 §4.1"},
	{"DeflateResponse", 0, "invalid permessage-deflate response parameters", "RFC 7692 §7.1"},
}

var headActions = []action{
	{Name: "mark", TakesPos: true, Doc: "remembers where a token starts"},
	{Name: "method", TakesPos: true, Doc: "ends the method token"},
	{Name: "target", TakesPos: true, Doc: "ends the request target"},
	{Name: "major", TakesByte: true, Doc: "records the HTTP major version digit"},
	{Name: "minor", TakesByte: true, Doc: "records the HTTP minor version digit"},
	{Name: "statusDigit", TakesByte: true, Doc: "shifts a status code digit in"},
	{Name: "reason", TakesPos: true, Doc: "ends the reason phrase"},
	{Name: "name", TakesPos: true, Doc: "ends a header name"},
	{Name: "value", TakesPos: true, Doc: "ends a header value (trailing whitespace is trimmed)"},
	{Name: "emptyValue", TakesPos: true, Doc: "records an empty header value"},
	{Name: "endLine", TakesPos: true, Doc: "ends a line at its LF: the next one starts after it (Feed bounds each line's length)"},
	{Name: "field", TakesPos: true, CanFail: true, Doc: "completes a header field and checks the number of fields against the limit (ErrTooManyHeaders)"},
}

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
var tchar = fsm.Range('a', 'z').Union(fsm.Range('A', 'Z')).Union(fsm.Range('0', '9')).
	Union(fsm.Bytes('!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'))

var (
	vchar     = fsm.Range(0x21, 0x7E)
	obsText   = fsm.Range(0x80, 0xFF)
	ws        = fsm.Bytes(' ', '\t')
	digit     = fsm.Range('0', '9')
	fieldByte = vchar.Union(obsText).Union(ws) // field-content, with inner whitespace
)

// literal declares states that read s byte by byte: state names[i] reads
// s[i]; the last goes to next. Any other byte fails with rule.
func literal(m *fsm.Machine, s string, names []string, next, fail string) {
	for i := range s {
		to := next
		if i+1 < len(s) {
			to = names[i+1]
		}
		m.State(names[i], "the state before "+string(s[i])+" of \""+s+"\"").
			On(fsm.Bytes(s[i]), to).Otherwise(fail)
	}
}

// headMachine declares the head of an HTTP/1.1 request (the opening
// handshake a client sends) or response (what a server answers), strictly:
// CRLF line endings (a bare LF is rejected: every WebSocket client sends
// CRLF), no obs-fold, no whitespace before a header's colon, no control
// bytes in values. The machine stops after the empty line; what follows
// belongs to the WebSocket frames.
func headMachine(request bool) *fsm.Machine {
	lineRule := "BadStatusLine"
	var m *fsm.Machine
	if request {
		lineRule = "BadRequestLine"
		m = fsm.New("RequestHead", "reads the head of an HTTP/1.1 request, up to the empty line")
		m.State("MethodStart", "the state before the method").
			On(tchar, "Method", "mark").Note("tchar").Otherwise(lineRule)
		m.State("Method", "the state inside the method token").
			On(tchar, "Method").Note("tchar").
			On(fsm.Bytes(' '), "TargetStart", "method").Otherwise(lineRule)
		m.State("TargetStart", "the state before the request target").
			On(vchar, "Target", "mark").Note("VCHAR").Otherwise(lineRule)
		m.State("Target", "the state inside the request target").
			On(vchar, "Target").Note("VCHAR").
			On(fsm.Bytes(' '), "VersionH", "target").Otherwise(lineRule)
		versionStates(m, lineRule, "LineCR")
		m.State("LineCR", "the state after the version, before CR").
			On(fsm.Bytes('\r'), "LineLF").Otherwise(lineRule)
	} else {
		m = fsm.New("ResponseHead", "reads the head of an HTTP/1.1 response, up to the empty line")
		versionStates(m, lineRule, "StatusSP")
		m.State("StatusSP", "the state after the version, before the space").
			On(fsm.Bytes(' '), "Status1").Otherwise(lineRule)
		m.State("Status1", "the state before the first status digit").On(digit, "Status2", "statusDigit").Note("DIGIT").Otherwise(lineRule)
		m.State("Status2", "the state before the second status digit").On(digit, "Status3", "statusDigit").Note("DIGIT").Otherwise(lineRule)
		m.State("Status3", "the state before the third status digit").On(digit, "ReasonSP", "statusDigit").Note("DIGIT").Otherwise(lineRule)
		m.State("ReasonSP", "the state after the status code").
			On(fsm.Bytes(' '), "ReasonStart").
			On(fsm.Bytes('\r'), "LineLF", "mark", "reason").Otherwise(lineRule)
		m.State("ReasonStart", "the state before the reason phrase").
			On(fieldByte, "Reason", "mark").Note("field-content: VCHAR, obs-text, SP, HTAB").
			On(fsm.Bytes('\r'), "LineLF", "mark", "reason").Otherwise(lineRule)
		m.State("Reason", "the state inside the reason phrase").
			On(fieldByte, "Reason").Note("field-content: VCHAR, obs-text, SP, HTAB").
			On(fsm.Bytes('\r'), "LineLF", "reason").Otherwise(lineRule)
	}
	m.State("LineLF", "the state after the CR of the start line").
		On(fsm.Bytes('\n'), "FieldStart", "endLine").Otherwise("LineEnding")
	m.State("FieldStart", "the state at the start of a header line, or of the empty line").
		On(tchar, "FieldName", "mark").Note("tchar").
		On(fsm.Bytes('\r'), "EndLF").
		On(ws, "ObsFold").Note("SP / HTAB").
		On(fsm.Bytes('\n'), "LineEnding").
		Otherwise("HeaderSyntax")
	m.State("FieldName", "the state inside a header name").
		On(tchar, "FieldName").Note("tchar").
		On(fsm.Bytes(':'), "ValueOWS", "name").
		On(ws, "SpaceBeforeColon").Note("SP / HTAB").
		Otherwise("HeaderSyntax") // a line without a colon ends here too
	m.State("ValueOWS", "the state after the colon, in leading whitespace").
		On(ws, "ValueOWS").Note("SP / HTAB").
		On(vchar.Union(obsText), "Value", "mark").Note("VCHAR / obs-text").
		On(fsm.Bytes('\r'), "FieldLF", "emptyValue").
		On(fsm.Bytes('\n'), "LineEnding").
		Otherwise("HeaderSyntax")
	m.State("Value", "the state inside a header value").
		On(fieldByte, "Value").Note("field-content: VCHAR, obs-text, SP, HTAB").
		On(fsm.Bytes('\r'), "FieldLF", "value").
		On(fsm.Bytes('\n'), "LineEnding").
		Otherwise("HeaderSyntax")
	m.State("FieldLF", "the state after the CR of a header line").
		On(fsm.Bytes('\n'), "FieldStart", "endLine", "field").Otherwise("LineEnding")
	m.State("EndLF", "the state after the CR of the empty line").
		On(fsm.Bytes('\n'), "Done", "endLine").Otherwise("LineEnding")
	m.State("Done", "the state after the head: the rest of the input is WebSocket frames").StopHere()

	if request {
		m.Fail("BadRequestLine", "RequestLine", "the request line is malformed")
	} else {
		m.Fail("BadStatusLine", "StatusLine", "the status line is malformed")
	}
	m.Fail("HeaderSyntax", "HeaderSyntax", "a header line is malformed (no colon, a control byte, a bad name)")
	m.Fail("SpaceBeforeColon", "SpaceBeforeColon", "whitespace stands between a header name and its colon")
	m.Fail("ObsFold", "ObsFold", "a header line starts with whitespace")
	m.Fail("LineEnding", "LineEnding", "a CR is not followed by LF, or an LF comes alone")
	m.Fail("TooManyHeaders", "TooManyHeaders", "the head has more header fields than the limit")
	m.Fallible("field", "TooManyHeaders")
	// The byte budgets the reader enforces around the machine, whatever
	// state it is in (handshake/head.go, Feed).
	m.Fail("HeadTooLarge", "HeadTooLarge", "the head is larger than the limit")
	m.Limit("HeadTooLarge", "a byte past MaxHeadSize")
	m.Fail("LineTooLong", "LineTooLong", "a line is longer than the limit")
	m.Limit("LineTooLong", "a byte past MaxLineLength in one line")
	return m
}

// versionStates declares "HTTP/" DIGIT "." DIGIT, ending in next.
func versionStates(m *fsm.Machine, fail, next string) {
	literal(m, "HTTP/", []string{"VersionH", "VersionT1", "VersionT2", "VersionP", "VersionSlash"}, "VersionMajor", fail)
	m.State("VersionMajor", "the state before the major version digit").On(digit, "VersionDot", "major").Note("DIGIT").Otherwise(fail)
	m.State("VersionDot", "the state before the dot of the version").On(fsm.Bytes('.'), "VersionMinor").Otherwise(fail)
	m.State("VersionMinor", "the state before the minor version digit").On(digit, next, "minor").Otherwise(fail)
}
