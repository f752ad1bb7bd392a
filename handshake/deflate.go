package handshake

import (
	"fmt"
	"strconv"
)

// DeflateName is the registered name of permessage-deflate (RFC 7692).
const DeflateName = "permessage-deflate"

// Window sizes of RFC 7692 §7.1.2: 2^8 to 2^15 bytes.
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

// WindowBitsAny is ClientMaxWindowBits in an offer that names the parameter
// without a value: the client can honour a limit the server picks.
const WindowBitsAny = -1

// DeflateParams are the parameters of one permessage-deflate offer or
// response (RFC 7692 §7.1). A window of 0 means the parameter is absent.
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int // 0, or 8-15
	ClientMaxWindowBits     int // 0, 8-15, or WindowBitsAny (offers only)
}

// Extension formats the parameters as a permessage-deflate element.
func (p DeflateParams) Extension() Extension {
	e := Extension{Name: DeflateName}
	if p.ServerNoContextTakeover {
		e.Params = append(e.Params, Param{Name: "server_no_context_takeover"})
	}
	if p.ClientNoContextTakeover {
		e.Params = append(e.Params, Param{Name: "client_no_context_takeover"})
	}
	if p.ServerMaxWindowBits != 0 {
		e.Params = append(e.Params, Param{Name: "server_max_window_bits", Value: strconv.Itoa(p.ServerMaxWindowBits), HasValue: true})
	}
	switch {
	case p.ClientMaxWindowBits == WindowBitsAny:
		e.Params = append(e.Params, Param{Name: "client_max_window_bits"})
	case p.ClientMaxWindowBits != 0:
		e.Params = append(e.Params, Param{Name: "client_max_window_bits", Value: strconv.Itoa(p.ClientMaxWindowBits), HasValue: true})
	}
	return e
}

// ParseDeflate reads the parameters of a permessage-deflate element: each
// at most once, no unknown parameter, no value on the no_context_takeover
// ones, window bits 8 to 15 (RFC 7692 §7.1). In a response (response set),
// client_max_window_bits needs a value.
func ParseDeflate(e Extension, response bool) (DeflateParams, error) {
	var p DeflateParams
	if e.Name != DeflateName {
		return p, fmt.Errorf("extension %q is not %s", e.Name, DeflateName)
	}
	seen := map[string]bool{}
	for _, prm := range e.Params {
		if seen[prm.Name] {
			return p, fmt.Errorf("parameter %s given twice", prm.Name)
		}
		seen[prm.Name] = true
		switch prm.Name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if prm.HasValue {
				return p, fmt.Errorf("parameter %s takes no value", prm.Name)
			}
			if prm.Name[0] == 's' {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case "server_max_window_bits":
			bits, err := windowBits(prm, true)
			if err != nil {
				return p, err
			}
			p.ServerMaxWindowBits = bits
		case "client_max_window_bits":
			bits, err := windowBits(prm, response)
			if err != nil {
				return p, err
			}
			p.ClientMaxWindowBits = bits
		default:
			return p, fmt.Errorf("unknown parameter %s", prm.Name)
		}
	}
	return p, nil
}

func windowBits(prm Param, needValue bool) (int, error) {
	if !prm.HasValue {
		if needValue {
			return 0, fmt.Errorf("parameter %s needs a value", prm.Name)
		}
		return WindowBitsAny, nil
	}
	// RFC 7692 §7.1.2.1: 1*DIGIT, no leading zero, 8 to 15.
	if len(prm.Value) == 0 || len(prm.Value) > 2 || prm.Value[0] == '0' {
		return 0, fmt.Errorf("parameter %s=%q is not 8-15", prm.Name, prm.Value)
	}
	bits, err := strconv.Atoi(prm.Value)
	if err != nil || bits < MinWindowBits || bits > MaxWindowBits {
		return 0, fmt.Errorf("parameter %s=%q is not 8-15", prm.Name, prm.Value)
	}
	return bits, nil
}

// DeflateConfig is what a server can do and wants.
type DeflateConfig struct {
	// ServerNoContextTakeover: reset the compressor after each message,
	// trading ratio for memory, whatever the client asks.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: ask the client to reset its compressor after
	// each message, so that the server keeps no inflate window between
	// messages.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is the largest LZ77 window the server's
	// compressor uses, 8 to 15 (0 means 15). The compressor
	// (klauspost/compress) honours every window of RFC 7692 §7.1.2, so an
	// offer that asks for a smaller one gets it.
	ServerMaxWindowBits int
	// ClientMaxWindowBits asks the client for a window of at most this
	// size when its offer allows it (0 means no request). The server then
	// keeps only that much inflate window per connection.
	ClientMaxWindowBits int
}

// Negotiate picks the first acceptable permessage-deflate offer (clients list
// them in order of preference, RFC 7692 §5) and returns the response
// parameters. Offers with an unknown or repeated parameter or a bad value
// are declined, not fatal (RFC 7692 §5: the server declines what it cannot
// accept), and the next offer is considered. ok is false when none is
// acceptable: then the connection runs without compression. The response
// carries only what RFC 7692 §7.1 lets a server answer to that offer.
func (c DeflateConfig) Negotiate(offers []Extension) (resp DeflateParams, ok bool) {
	ours := c.ServerMaxWindowBits
	if ours == 0 {
		ours = MaxWindowBits
	}
	if ours < MinWindowBits || ours > MaxWindowBits {
		return DeflateParams{}, false // a misconfigured server compresses nothing
	}
	for _, e := range offers {
		if e.Name != DeflateName {
			continue
		}
		offer, err := ParseDeflate(e, false)
		if err != nil {
			continue
		}
		resp = DeflateParams{
			// §7.1.1.1: accepting server_no_context_takeover means echoing
			// it; the server may also add it unasked. §7.1.1.2: the server
			// may add client_no_context_takeover whether offered or not.
			ServerNoContextTakeover: offer.ServerNoContextTakeover || c.ServerNoContextTakeover,
			ClientNoContextTakeover: offer.ClientNoContextTakeover || c.ClientNoContextTakeover,
		}
		// §7.1.2.1: an offered server_max_window_bits is answered with the
		// same or a smaller value; without one the server may still state
		// a smaller window. We answer with the window we compress with.
		window := ours
		if offer.ServerMaxWindowBits != 0 {
			window = min(ours, offer.ServerMaxWindowBits)
		}
		if offer.ServerMaxWindowBits != 0 || window < MaxWindowBits {
			resp.ServerMaxWindowBits = window
		}
		// §7.1.2.2: client_max_window_bits only if the client offered it,
		// never above an offered value. An offered value binds the client
		// even if unanswered; we echo it so the response states the
		// window the server must keep.
		switch {
		case offer.ClientMaxWindowBits == 0:
		case offer.ClientMaxWindowBits == WindowBitsAny:
			resp.ClientMaxWindowBits = c.ClientMaxWindowBits
		case c.ClientMaxWindowBits != 0:
			resp.ClientMaxWindowBits = min(c.ClientMaxWindowBits, offer.ClientMaxWindowBits)
		default:
			resp.ClientMaxWindowBits = offer.ClientMaxWindowBits
		}
		return resp, true
	}
	return DeflateParams{}, false
}

// ServerWindow and ClientWindow are the agreed window sizes in bits of the
// server's and the client's compressor (15 when the parameter is absent).
func (p DeflateParams) ServerWindow() int { return windowOr15(p.ServerMaxWindowBits) }

// ClientWindow: see ServerWindow.
func (p DeflateParams) ClientWindow() int { return windowOr15(p.ClientMaxWindowBits) }

func windowOr15(bits int) int {
	if bits < MinWindowBits || bits > MaxWindowBits {
		return MaxWindowBits
	}
	return bits
}

// CheckResponse validates a server's permessage-deflate response against
// the offer o (RFC 7692 §7.1) and returns the agreed parameters.
func (o DeflateParams) CheckResponse(e Extension) (DeflateParams, error) {
	r, err := ParseDeflate(e, true)
	if err != nil {
		return r, err
	}
	if o.ServerNoContextTakeover && !r.ServerNoContextTakeover {
		return r, fmt.Errorf("server_no_context_takeover was offered but not accepted")
	}
	if o.ServerMaxWindowBits != 0 && (r.ServerMaxWindowBits == 0 || r.ServerMaxWindowBits > o.ServerMaxWindowBits) {
		return r, fmt.Errorf("server_max_window_bits %d does not honour the offered %d", r.ServerMaxWindowBits, o.ServerMaxWindowBits)
	}
	if r.ClientMaxWindowBits != 0 {
		if o.ClientMaxWindowBits == 0 {
			return r, fmt.Errorf("client_max_window_bits in the response was not offered")
		}
		if o.ClientMaxWindowBits != WindowBitsAny && r.ClientMaxWindowBits > o.ClientMaxWindowBits {
			return r, fmt.Errorf("client_max_window_bits %d exceeds the offered %d", r.ClientMaxWindowBits, o.ClientMaxWindowBits)
		}
	}
	return r, nil
}
