package wsframe

import (
	"errors"
	"testing"
)

func TestCloseCodesOnTheWire(t *testing.T) {
	for c := 0; c < 6000; c++ {
		code := CloseCode(c)
		want := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
		if code.ValidOnWire() != want {
			t.Errorf("%v: ValidOnWire %v", code, !want)
		}
		payload := []byte{byte(c >> 8), byte(c), 'o', 'k'}
		_, _, err := ParseClose(payload)
		if (err == nil) != want || (err != nil && !errors.Is(err, ErrCloseCode)) {
			t.Errorf("%d: ParseClose err %v", c, err)
		}
	}
}

func TestParseClose(t *testing.T) {
	code, reason, err := ParseClose(nil)
	if code != CloseNoStatus || reason != nil || err != nil {
		t.Errorf("empty: %v %q %v", code, reason, err)
	}
	if _, _, err := ParseClose([]byte{0x03}); err != ErrCloseLength || ErrCloseLength.Code() != CloseProtocolError {
		t.Errorf("1 byte: %v", err)
	}
	if _, _, err := ParseClose([]byte{0x03, 0xE8, 0xC0, 0xAF}); err != ErrCloseReasonUTF8 || err.(Rule).Code() != CloseInvalidPayload {
		t.Errorf("bad reason: %v", err)
	}
	code, reason, err = ParseClose([]byte{0x03, 0xE8, 'b', 'y', 'e'})
	if code != CloseNormal || string(reason) != "bye" || err != nil {
		t.Errorf("normal: %v %q %v", code, reason, err)
	}
}

func TestAppendClose(t *testing.T) {
	for _, c := range []struct {
		code   CloseCode
		reason string
		err    error
	}{
		{CloseNormal, "bye", nil},
		{4999, "", nil},
		{CloseNoStatus, "", nil},
		{CloseNoStatus, "x", ErrCloseCode},
		{CloseAbnormal, "", ErrCloseCode},
		{999, "", ErrCloseCode},
		{CloseNormal, string(make([]byte, 124)), ErrCloseReasonTooLong},
		{CloseNormal, "\xED\xA0\x80", ErrCloseReasonUTF8},
	} {
		b, err := AppendClose(nil, c.code, c.reason)
		if err != c.err {
			t.Errorf("%v %q: err %v, want %v", c.code, c.reason, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		code, reason, err := ParseClose(b)
		if c.code == CloseNoStatus {
			if len(b) != 0 || code != CloseNoStatus {
				t.Errorf("no status: % X", b)
			}
			continue
		}
		if code != c.code || string(reason) != c.reason || err != nil {
			t.Errorf("round trip %v %q: %v %q %v", c.code, c.reason, code, reason, err)
		}
	}
	if b, err := AppendClose(nil, CloseNormal, string(make([]byte, MaxCloseReason))); err != nil || len(b) != MaxControlPayload {
		t.Errorf("longest reason: %d bytes, %v", len(b), err)
	}
}
