package main

import "github.com/wsfsm/wsfsm/fsm"

// rule is a protocol rule an endpoint enforces, with the close code a
// violation yields. The generator emits them as wsframe's Rule constants
// (ErrName), so machines, actions and hand-written checks report the same
// values.
type rule struct {
	Name string // Go identifier after "Err"
	Code int    // close code to send
	Text string // what was wrong, lower case, no period
	Cite string // where the RFC says so
}

var frameRules = []rule{
	{"ReservedOpcode", 1002, "frame uses a reserved opcode", "RFC 6455 §5.2"},
	{"ReservedBits", 1002, "RSV bit set that no negotiated extension defines", "RFC 6455 §5.2"},
	{"ControlReservedBits", 1002, "RSV bit set on a control frame", "RFC 6455 §5.2, RFC 7692 §6"},
	{"FragmentedControl", 1002, "control frame is fragmented (FIN clear)", "RFC 6455 §5.5"},
	{"ControlTooLong", 1002, "control frame payload is longer than 125 bytes", "RFC 6455 §5.5"},
	{"UnmaskedFrame", 1002, "frame from the client is not masked", "RFC 6455 §5.1"},
	{"MaskedFrame", 1002, "frame from the server is masked", "RFC 6455 §5.1"},
	{"LengthTopBit", 1002, "64-bit payload length has its most significant bit set", "RFC 6455 §5.2"},
	{"FrameTooBig", 1009, "frame payload is larger than the limit", "RFC 6455 §7.4.1, §10.4"},
	{"InvalidUTF8", 1007, "text is not valid UTF-8", "RFC 6455 §8.1"},
	{"CloseLength", 1002, "close payload is 1 byte long", "RFC 6455 §5.5.1"},
	{"CloseCode", 1002, "close code may not be sent on the wire", "RFC 6455 §7.4"},
	{"CloseReasonUTF8", 1007, "close reason is not valid UTF-8", "RFC 6455 §5.5.1"},
	// Message rules, enforced by the connection core (wsconn).
	{"UnexpectedContinuation", 1002, "continuation frame without a message in progress", "RFC 6455 §5.4"},
	{"MessageInProgress", 1002, "new data message before the previous one ended", "RFC 6455 §5.4"},
	{"MessageTooBig", 1009, "message is larger than the limit", "RFC 6455 §7.4.1, §10.4"},
	{"TooManyFragments", 1009, "message has more fragments than the limit", "RFC 6455 §10.4"},
}

// action is a named action the frame machines call on a transition. The
// generated code calls the method of the same name on *Parser; a compile-time
// interface guard ties the two together.
type action struct {
	Name      string
	TakesByte bool // called with the byte that triggered the transition
	CanFail   bool // returns false when the input breaks a rule: the machine then enters the error state its declaration names (fsm.Machine.Fallible)
	Doc       string
	TakesPos  bool // called with the index of that byte in the data stepped
}

var frameActions = []action{
	{Name: "beginFrame", TakesByte: true, Doc: "records FIN, RSV and opcode from byte 0 and resets the header"},
	{Name: "checkReservedBits", CanFail: true, Doc: "checks that no RSV bit is set that the configuration does not allow (ErrReservedBits)"},
	{Name: "setMaskBit", TakesByte: true, Doc: "records the MASK bit of byte 1 as it is on the wire (the transition has matched it to the peer's role)"},
	{Name: "setLen7", TakesByte: true, Doc: "records a 7-bit payload length (0-125)"},
	{Name: "lenByte", TakesByte: true, Doc: "shifts one byte of a 16- or 64-bit length in"},
	{Name: "checkLength", CanFail: true, Doc: "checks the length against the limit, before any payload is read (ErrFrameTooBig)"},
	{Name: "keyByte", TakesByte: true, Doc: "shifts one byte of the masking key in"},
	{Name: "headerDone", Doc: "completes the header and arms the payload counter"},
}

// Byte 0 of a frame: FIN (0x80), RSV1-3 (0x70), opcode (0x0F).
func opcode(b byte) byte    { return b & 0x0F }
func fin(b byte) bool       { return b&0x80 != 0 }
func rsv(b byte) byte       { return b & 0x70 }
func isData(b byte) bool    { return opcode(b) <= 0x2 }
func isControl(b byte) bool { return opcode(b) >= 0x8 && opcode(b) <= 0xA }

// frameMachine declares the header grammar of RFC 6455 §5.2 for the endpoint
// that receives the frames: a server reads masked client frames, a client
// reads unmasked server frames (§5.1), so the MASK bit is part of the
// grammar and the two roles get two machines.
func frameMachine(server bool) *fsm.Machine {
	name, peer, maskBit, wrongMask := "ClientFrame", "server", byte(0), "MaskedFrame"
	if server {
		name, peer, maskBit, wrongMask = "ServerFrame", "client", 0x80, "UnmaskedFrame"
	}
	m := fsm.New(name, "reads the header of each frame a "+peer+" sends, then its payload in bulk")

	// After the last length byte: the masking key, or straight to the payload.
	afterLen, lastLen := "ReadMaskKey0", []string{"checkLength"}
	if !server {
		afterLen, lastLen = "ReadPayload", []string{"checkLength", "headerDone"}
	}
	withLen := func(first string, rest []string) []string { return append([]string{first}, rest...) }

	m.State("ReadOpcode", "the state at a frame boundary, before byte 0 (FIN, RSV1-3, opcode)").Accept().
		On(fsm.Where(isData), "ReadDataLen7", "beginFrame", "checkReservedBits").
		Note("opcode 0x0-0x2 (continuation, text, binary), any FIN and RSV").
		On(fsm.Where(func(b byte) bool { return isControl(b) && !fin(b) }), "FragmentedControl").
		Note("opcode 0x8-0xA (close, ping, pong), FIN clear").
		On(fsm.Where(func(b byte) bool { return isControl(b) && fin(b) && rsv(b) != 0 }), "ControlReservedBits").
		Note("opcode 0x8-0xA, FIN set, an RSV bit set").
		On(fsm.Where(func(b byte) bool { return isControl(b) && fin(b) && rsv(b) == 0 }), "ReadControlLen7", "beginFrame").
		Note("opcode 0x8-0xA, FIN set, RSV clear").
		Otherwise("ReservedOpcode").
		Note("opcode 0x3-0x7 or 0xB-0xF")
	m.State("ReadDataLen7", "the state after byte 0 of a data frame, before byte 1 (MASK, 7-bit length)").
		On(fsm.Range(maskBit, maskBit|125), afterLen, append([]string{"setMaskBit"}, withLen("setLen7", lastLen)...)...).
		On(fsm.Bytes(maskBit|126), "ReadLen16Hi", "setMaskBit").
		On(fsm.Bytes(maskBit|127), "ReadLen64Byte0", "setMaskBit").
		Otherwise(wrongMask)
	m.State("ReadControlLen7", "the state after byte 0 of a control frame, before byte 1 (MASK, 7-bit length)").
		On(fsm.Range(maskBit, maskBit|125), afterLen, append([]string{"setMaskBit"}, withLen("setLen7", lastLen)...)...).
		On(fsm.Range(maskBit|126, maskBit|127), "ControlTooLong").
		Otherwise(wrongMask)
	m.State("ReadLen16Hi", "the state after a 7-bit length of 126, before the high byte of the 16-bit length").
		Otherwise("ReadLen16Lo", "lenByte")
	m.State("ReadLen16Lo", "the state before the low byte of the 16-bit length").
		Otherwise(afterLen, withLen("lenByte", lastLen)...)
	m.State("ReadLen64Byte0", "the state after a 7-bit length of 127, before the most significant byte of the 64-bit length").
		On(fsm.Range(0x80, 0xFF), "LengthTopBit").
		Otherwise("ReadLen64Byte1", "lenByte")
	for i := 1; i < 7; i++ {
		m.State(lenByteName(i), "the state before byte "+string(rune('0'+i))+" of the 64-bit length").
			Otherwise(lenByteName(i+1), "lenByte")
	}
	m.State("ReadLen64Byte7", "the state before the least significant byte of the 64-bit length").
		Otherwise(afterLen, withLen("lenByte", lastLen)...)
	if server {
		for i := 0; i < 3; i++ {
			m.State(maskKeyName(i), "the state before byte "+string(rune('0'+i))+" of the masking key").
				Otherwise(maskKeyName(i+1), "keyByte")
		}
		m.State("ReadMaskKey3", "the state before the last byte of the masking key").
			Otherwise("ReadPayload", "keyByte", "headerDone")
	}
	m.State("ReadPayload", "the state after the header: the payload is consumed in bulk, never per byte").
		BulkUntil("remaining", "ReadOpcode")

	m.Fail("ReservedOpcode", "ReservedOpcode", "byte 0 names opcode 0x3-0x7 or 0xB-0xF")
	m.Fail("FragmentedControl", "FragmentedControl", "byte 0 names a control opcode with FIN clear")
	m.Fail("ControlReservedBits", "ControlReservedBits", "byte 0 names a control opcode with an RSV bit set")
	m.Fail("ControlTooLong", "ControlTooLong", "byte 1 of a control frame announces an extended length")
	m.Fail(wrongMask, wrongMask, "byte 1 has the MASK bit wrong for a frame from the "+peer)
	m.Fail("LengthTopBit", "LengthTopBit", "the 64-bit length has its most significant bit set")
	// The rules that depend on the configuration: an action checks them, and
	// its failure is a transition like any other.
	m.Fail("ReservedBits", "ReservedBits", "byte 0 of a data frame sets an RSV bit no negotiated extension defines")
	m.Fallible("checkReservedBits", "ReservedBits")
	m.Fail("FrameTooBig", "FrameTooBig", "the payload length is over the configured limit")
	m.Fallible("checkLength", "FrameTooBig")
	return m
}

func lenByteName(i int) string { return "ReadLen64Byte" + string(rune('0'+i)) }
func maskKeyName(i int) string { return "ReadMaskKey" + string(rune('0'+i)) }

// utf8Machine declares the UTF-8 grammar of RFC 3629 §4 as a DFA. Every
// invalid sequence fails at the first byte that proves it invalid: an
// overlong 3- or 4-byte form at its second byte, a surrogate at its second
// byte, a code point above U+10FFFF at its second byte.
func utf8Machine() *fsm.Machine {
	cont := fsm.Range(0x80, 0xBF)
	m := fsm.New("UTF8", "validates UTF-8 text incrementally, across any split")
	m.State("Ready", "the state between code points").Accept().
		On(fsm.Range(0x00, 0x7F), "Ready").
		On(fsm.Range(0xC2, 0xDF), "Need1").
		On(fsm.Bytes(0xE0), "AfterE0").
		On(fsm.Range(0xE1, 0xEC).Union(fsm.Range(0xEE, 0xEF)), "Need2").
		On(fsm.Bytes(0xED), "AfterED").
		On(fsm.Bytes(0xF0), "AfterF0").
		On(fsm.Range(0xF1, 0xF3), "Need3").
		On(fsm.Bytes(0xF4), "AfterF4").
		Otherwise("Invalid") // 0x80-0xC1 (stray continuation, overlong 2-byte), 0xF5-0xFF
	m.State("Need1", "the state before the last continuation byte of a sequence").
		On(cont, "Ready").Otherwise("Invalid")
	m.State("Need2", "the state before the last two continuation bytes of a sequence").
		On(cont, "Need1").Otherwise("Invalid")
	m.State("Need3", "the state before the last three continuation bytes of a sequence").
		On(cont, "Need2").Otherwise("Invalid")
	m.State("AfterE0", "the state after 0xE0: A0-BF follows, lower would be overlong").
		On(fsm.Range(0xA0, 0xBF), "Need1").Otherwise("Invalid")
	m.State("AfterED", "the state after 0xED: 80-9F follows, higher would be a surrogate").
		On(fsm.Range(0x80, 0x9F), "Need1").Otherwise("Invalid")
	m.State("AfterF0", "the state after 0xF0: 90-BF follows, lower would be overlong").
		On(fsm.Range(0x90, 0xBF), "Need2").Otherwise("Invalid")
	m.State("AfterF4", "the state after 0xF4: 80-8F follows, higher would exceed U+10FFFF").
		On(fsm.Range(0x80, 0x8F), "Need2").Otherwise("Invalid")
	m.Fail("Invalid", "InvalidUTF8", "a byte proved the text invalid")
	return m
}
