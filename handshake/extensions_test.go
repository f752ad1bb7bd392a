package handshake

import (
	"reflect"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	got, err := ParseExtensions([]string{
		`permessage-deflate; client_max_window_bits; server_max_window_bits="10" , foo`,
		`,bar;a=b;c="d"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Extension{
		{Name: "permessage-deflate", Params: []Param{{Name: "client_max_window_bits"}, {Name: "server_max_window_bits", Value: "10", HasValue: true}}},
		{Name: "foo"},
		{Name: "bar", Params: []Param{{Name: "a", Value: "b", HasValue: true}, {Name: "c", Value: "d", HasValue: true}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if s := FormatExtensions(want); s != "permessage-deflate; client_max_window_bits; server_max_window_bits=10, foo, bar; a=b; c=d" {
		t.Errorf("format %q", s)
	}
	for _, bad := range []string{`;x`, `a;`, `a;=b`, `a;b=`, `a;b="c d"`, `a;b="c`, `a b`, `a;b=c d`, `a;b="\`, `a,,b c`} {
		if _, err := ParseExtensions([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func deflateOffer(t *testing.T, s string) []Extension {
	t.Helper()
	e, err := ParseExtensions([]string{s})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDeflateNegotiation(t *testing.T) {
	for _, c := range []struct {
		offer string
		cfg   DeflateConfig
		ok    bool
		want  string
	}{
		{"permessage-deflate", DeflateConfig{}, true, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits", DeflateConfig{}, true, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits", DeflateConfig{ClientMaxWindowBits: 10}, true, "permessage-deflate; client_max_window_bits=10"},
		{"permessage-deflate; client_max_window_bits=9", DeflateConfig{ClientMaxWindowBits: 10}, true, "permessage-deflate; client_max_window_bits=9"},
		{"permessage-deflate", DeflateConfig{ClientMaxWindowBits: 10}, true, "permessage-deflate"},
		{"permessage-deflate; server_no_context_takeover", DeflateConfig{}, true, "permessage-deflate; server_no_context_takeover"},
		{"permessage-deflate; client_no_context_takeover", DeflateConfig{}, true, "permessage-deflate; client_no_context_takeover"},
		{"permessage-deflate", DeflateConfig{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, true,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"permessage-deflate; server_max_window_bits=15", DeflateConfig{}, true, "permessage-deflate; server_max_window_bits=15"},
		// The compressor honours any window: a smaller server window is
		// accepted as offered, or smaller if the server wants.
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", DeflateConfig{}, true, "permessage-deflate; server_max_window_bits=10"},
		{"permessage-deflate; server_max_window_bits=8", DeflateConfig{}, true, "permessage-deflate; server_max_window_bits=8"},
		{"permessage-deflate; server_max_window_bits=10", DeflateConfig{ServerMaxWindowBits: 9}, true, "permessage-deflate; server_max_window_bits=9"},
		{"permessage-deflate; server_max_window_bits=9", DeflateConfig{ServerMaxWindowBits: 12}, true, "permessage-deflate; server_max_window_bits=9"},
		{"permessage-deflate", DeflateConfig{ServerMaxWindowBits: 12}, true, "permessage-deflate; server_max_window_bits=12"},
		{"permessage-deflate", DeflateConfig{ServerMaxWindowBits: 16}, false, ""},
		// An offered client window binds the client; the response states it.
		{"permessage-deflate; client_max_window_bits=9", DeflateConfig{}, true, "permessage-deflate; client_max_window_bits=9"},
		// Invalid offers are declined.
		{"permessage-deflate; server_max_window_bits", DeflateConfig{}, false, ""},
		{"permessage-deflate; server_max_window_bits=7", DeflateConfig{}, false, ""},
		{"permessage-deflate; client_max_window_bits=16", DeflateConfig{}, false, ""},
		{"permessage-deflate; client_max_window_bits=010", DeflateConfig{}, false, ""},
		{"permessage-deflate; server_no_context_takeover=1", DeflateConfig{}, false, ""},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", DeflateConfig{}, false, ""},
		{"permessage-deflate; mystery", DeflateConfig{}, false, ""},
		{"x-webkit-deflate-frame", DeflateConfig{}, false, ""},
		{"permessage-deflate; mystery, permessage-deflate; client_no_context_takeover", DeflateConfig{}, true, "permessage-deflate; client_no_context_takeover"},
	} {
		resp, ok := c.cfg.Negotiate(deflateOffer(t, c.offer))
		if ok != c.ok || (ok && resp.Extension().String() != c.want) {
			t.Errorf("%q with %+v: %v %q, want %v %q", c.offer, c.cfg, ok, resp.Extension().String(), c.ok, c.want)
		}
		if ok {
			// Whatever we answer, a client that made the offer accepts.
			offer, _ := ParseDeflate(deflateOffer(t, c.offer)[0], false)
			for _, e := range deflateOffer(t, c.offer) {
				if o, err := ParseDeflate(e, false); err == nil {
					offer = o
					break
				}
			}
			if _, err := offer.CheckResponse(resp.Extension()); err != nil && offer.ServerMaxWindowBits == 0 {
				t.Errorf("%q: our response fails the client's check: %v", c.offer, err)
			}
		}
	}
}
