package handshake

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/internal/seeded"
)

func deflateProperties(t *testing.T) *gopter.Properties {
	return gopter.NewProperties(seeded.Parameters(t, "./handshake", 2000))
}

// offerParam draws one parameter of an offer: the four of RFC 7692 with
// good and bad values, and unknown ones.
func offerParam() gopter.Gen {
	values := []string{"", "8", "9", "10", "12", "15", "7", "16", "08", "1x", "-9"}
	return gen.Struct(reflect.TypeOf(Param{}), map[string]gopter.Gen{
		"Name": gen.OneConstOf("server_no_context_takeover", "client_no_context_takeover",
			"server_max_window_bits", "client_max_window_bits", "x_unknown", "Server_No_Context_Takeover"),
		"Value":    gen.OneConstOf(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7], values[8], values[9], values[10]),
		"HasValue": gen.Bool(),
	})
}

func offerElement() gopter.Gen {
	return gopter.CombineGens(
		gen.Weighted([]gen.WeightedGen{{Weight: 9, Gen: gen.Const(DeflateName)}, {Weight: 1, Gen: gen.Const("x-webkit-deflate-frame")}}),
		gen.SliceOfN(4, offerParam()),
		gen.IntRange(0, 4),
	).Map(func(v []any) Extension {
		ps := v[1].([]Param)[:v[2].(int)]
		for i := range ps {
			if !ps[i].HasValue {
				ps[i].Value = ""
			}
		}
		return Extension{Name: v[0].(string), Params: ps}
	})
}

func deflateConfig() gopter.Gen {
	bits := gen.OneConstOf(0, 8, 9, 10, 11, 12, 13, 14, 15)
	return gopter.CombineGens(gen.Bool(), gen.Bool(), bits, bits).Map(func(v []any) DeflateConfig {
		return DeflateConfig{ServerNoContextTakeover: v[0].(bool), ClientNoContextTakeover: v[1].(bool),
			ServerMaxWindowBits: v[2].(int), ClientMaxWindowBits: v[3].(int)}
	})
}

// RFC 7692 §5 and §7.1, as laws of Negotiate over random offer lists.
func TestDeflateNegotiationLaws(t *testing.T) {
	props := deflateProperties(t)
	props.Property("accepts iff an offer is valid; answers the first valid one within what it allowed", prop.ForAll(
		func(offers []Extension, cfg DeflateConfig) string {
			resp, ok := cfg.Negotiate(offers)
			first := -1
			var offer DeflateParams
			for i, e := range offers {
				if e.Name != DeflateName {
					continue
				}
				if o, err := ParseDeflate(e, false); err == nil {
					first, offer = i, o
					break
				}
			}
			if ok != (first >= 0) {
				return fmt.Sprintf("ok %v, first valid offer %d", ok, first)
			}
			if !ok {
				return ""
			}
			// The first valid offer decides, whatever precedes it.
			if again, _ := cfg.Negotiate(offers[first:][:1]); again != resp {
				return fmt.Sprintf("answer %+v, to the first valid offer alone %+v", resp, again)
			}
			// A client that made the offer accepts the response...
			if _, err := offer.CheckResponse(resp.Extension()); err != nil {
				return "the offering client refuses the response: " + err.Error()
			}
			// ...which is a valid response that reads back the same.
			back, err := ParseDeflate(resp.Extension(), true)
			if err != nil || back != resp {
				return fmt.Sprintf("response %q reads back as %+v, %v", resp.Extension(), back, err)
			}
			switch {
			case offer.ServerNoContextTakeover && !resp.ServerNoContextTakeover:
				return "server_no_context_takeover offered and not echoed"
			case resp.ClientMaxWindowBits != 0 && offer.ClientMaxWindowBits == 0:
				return "client_max_window_bits answered but not offered"
			case offer.ClientMaxWindowBits > 0 && resp.ClientMaxWindowBits > offer.ClientMaxWindowBits:
				return "client_max_window_bits above the offered value"
			case offer.ServerMaxWindowBits != 0 && resp.ServerMaxWindowBits == 0:
				return "server_max_window_bits offered and not answered"
			case resp.ServerWindow() > windowOr15(cfg.ServerMaxWindowBits):
				return "server window larger than the server compresses with"
			case offer.ServerMaxWindowBits != 0 && resp.ServerWindow() > offer.ServerMaxWindowBits:
				return "server window larger than offered"
			case cfg.ClientMaxWindowBits != 0 && offer.ClientMaxWindowBits != 0 && resp.ClientWindow() > cfg.ClientMaxWindowBits:
				return "client window larger than the server asked"
			case cfg.ServerNoContextTakeover && !resp.ServerNoContextTakeover,
				cfg.ClientNoContextTakeover && !resp.ClientNoContextTakeover:
				return "the server's own no_context_takeover is missing"
			}
			return ""
		},
		gen.SliceOfN(3, offerElement()),
		deflateConfig(),
	))
	props.TestingRun(t)
}

// Offers the RFC calls invalid are each declined on their own, and a valid
// offer after them is taken.
func TestDeflateDeclinesInvalidOffers(t *testing.T) {
	for _, bad := range []string{
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
		"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits=0x9",
		"permessage-deflate; client_max_window_bits=\"08\"",
		"permessage-deflate; client_no_context_takeover=true",
		"permessage-deflate; unknown",
		"permessage-deflate; x=1",
	} {
		if _, ok := (DeflateConfig{}).Negotiate(deflateOffer(t, bad)); ok {
			t.Errorf("%q accepted", bad)
		}
		resp, ok := (DeflateConfig{}).Negotiate(deflateOffer(t, bad+", permessage-deflate; client_no_context_takeover"))
		if !ok || resp != (DeflateParams{ClientNoContextTakeover: true}) {
			t.Errorf("%q then a valid offer: %v %+v", bad, ok, resp)
		}
	}
}
