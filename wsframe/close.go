package wsframe

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// CloseCode is the status code of a Close frame (RFC 6455 §7.4).
type CloseCode uint16

// Close codes of RFC 6455 §7.4.1 and the IANA registry.
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005 // local only: the Close frame had no code
	CloseAbnormal           CloseCode = 1006 // local only: no Close frame at all
	CloseInvalidPayload     CloseCode = 1007
	ClosePolicyViolation    CloseCode = 1008
	CloseTooBig             CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010
	CloseInternalError      CloseCode = 1011
	CloseServiceRestart     CloseCode = 1012
	CloseTryAgainLater      CloseCode = 1013
	CloseBadGateway         CloseCode = 1014
	CloseTLSHandshake       CloseCode = 1015 // local only
)

// ValidOnWire reports whether c may appear in a Close frame: 1000-1003,
// 1007-1014 and 3000-4999. Codes below 1000, 1004-1006, 1015, the
// unregistered 1016-2999 and 5000 up never may (RFC 6455 §7.4).
func (c CloseCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014, c >= 3000 && c <= 4999:
		return true
	}
	return false
}

var closeNames = map[CloseCode]string{
	CloseNormal: "normal closure", CloseGoingAway: "going away", CloseProtocolError: "protocol error",
	CloseUnsupportedData: "unsupported data", CloseNoStatus: "no status received", CloseAbnormal: "abnormal closure",
	CloseInvalidPayload: "invalid payload data", ClosePolicyViolation: "policy violation", CloseTooBig: "message too big",
	CloseMandatoryExtension: "mandatory extension", CloseInternalError: "internal error", CloseServiceRestart: "service restart",
	CloseTryAgainLater: "try again later", CloseBadGateway: "bad gateway", CloseTLSHandshake: "TLS handshake failure",
}

func (c CloseCode) String() string {
	if n, ok := closeNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + n + ")"
	}
	return strconv.Itoa(int(c))
}

// MaxCloseReason is the longest reason a Close frame can carry: 125 bytes of
// control payload less the 2-byte code.
const MaxCloseReason = MaxControlPayload - 2

// ParseClose reads a Close frame's payload (RFC 6455 §5.5.1). An empty
// payload yields CloseNoStatus. It fails with ErrCloseLength for a 1-byte
// payload, ErrCloseCode for a code not allowed on the wire, and
// ErrCloseReasonUTF8 for a reason that is not UTF-8. reason aliases payload.
func ParseClose(payload []byte) (code CloseCode, reason []byte, err error) {
	switch len(payload) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, ErrCloseLength
	}
	code = CloseCode(binary.BigEndian.Uint16(payload))
	if !code.ValidOnWire() {
		return code, nil, ErrCloseCode
	}
	reason = payload[2:]
	if !ValidUTF8(reason) {
		return code, nil, ErrCloseReasonUTF8
	}
	return code, reason, nil
}

// ErrCloseReasonTooLong is returned by AppendClose for a reason that does not
// fit in a control frame.
var ErrCloseReasonTooLong = errors.New("wsframe: close reason longer than 123 bytes")

// AppendClose appends a Close payload: nothing for CloseNoStatus (with an
// empty reason), else the code and the reason. The code must be valid on
// the wire and the reason UTF-8 of at most MaxCloseReason bytes.
func AppendClose(dst []byte, code CloseCode, reason string) ([]byte, error) {
	if code == CloseNoStatus && reason == "" {
		return dst, nil
	}
	if !code.ValidOnWire() {
		return dst, ErrCloseCode
	}
	if len(reason) > MaxCloseReason {
		return dst, ErrCloseReasonTooLong
	}
	if !ValidUTF8([]byte(reason)) {
		return dst, ErrCloseReasonUTF8
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...), nil
}
