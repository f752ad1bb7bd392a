package proptest

import (
	"encoding/binary"
	"iter"
	"math/rand/v2"
	"reflect"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/wsfsm/wsfsm/wsframe"
)

// FrameSpec describes a frame to encode. Every field is generated and
// shrinks independently; Payload derives the bytes from Len and Seed so that
// long payloads cost nothing to generate or shrink.
type FrameSpec struct {
	Fin    bool
	Rsv    uint8 // 0-7
	Opcode uint8 // 0-15, reserved ones included
	Key    uint32
	Len    int
	Seed   uint64
}

// maxSpecLen bounds payloads, whatever a shrinker makes of Len.
const maxSpecLen = 4 << 20

// Payload returns the frame's payload bytes: Len of them, clamped to
// [0, 4 MiB] (shrinkers may step outside the generator's range).
func (f FrameSpec) Payload() []byte {
	n := min(max(f.Len, 0), maxSpecLen)
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(f.Seed, uint64(n)))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := i; j < min(i+8, len(b)); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// MaskKey is Key as the 4 key bytes.
func (f FrameSpec) MaskKey() [4]byte {
	return [4]byte{byte(f.Key >> 24), byte(f.Key >> 16), byte(f.Key >> 8), byte(f.Key)}
}

// IsControl reports whether the opcode is a control opcode.
func (f FrameSpec) IsControl() bool { return f.Opcode >= 0x8 }

// Valid returns f changed as little as needed to break no framing rule
// (with no RSV bit allowed): a defined opcode, and for control frames FIN
// set, no RSV bit and at most 125 bytes.
func (f FrameSpec) Valid() FrameSpec {
	defined := []uint8{0x0, 0x1, 0x2, 0x8, 0x9, 0xA}
	if op := wsframe.Opcode(f.Opcode); op.IsReserved() {
		f.Opcode = defined[int(f.Opcode)%len(defined)]
	}
	f.Rsv = 0
	if f.IsControl() {
		f.Fin = true
		f.Len = min(max(f.Len, 0), wsframe.MaxControlPayload)
	}
	return f
}

// Encode appends the frame as the given sender role writes it: masked when
// a client sends.
func (f FrameSpec) Encode(dst []byte, clientSends bool) []byte {
	h := wsframe.Header{Fin: f.Fin, Rsv: f.Rsv, Opcode: wsframe.Opcode(f.Opcode), Masked: clientSends, Mask: f.MaskKey()}
	if !clientSends {
		h.Mask = [4]byte{}
	}
	return wsframe.AppendFrame(dst, h, f.Payload())
}

// Ref is the frame as the reference decoder reports it.
func (f FrameSpec) Ref(clientSends bool) RefFrame {
	r := RefFrame{Fin: f.Fin, Rsv: f.Rsv, Opcode: f.Opcode, Masked: clientSends, Payload: f.Payload()}
	if clientSends {
		r.Mask = f.MaskKey()
	}
	return r
}

// Boundary lengths of the length encoding (RFC 6455 §5.2).
var boundaryLens = []int{0, 1, 125, 126, 127, 65535, 65536}

// GenPayloadLen draws payload lengths: the encoding's boundaries, small and
// medium lengths, and when big is set, now and then a few MiB.
func GenPayloadLen(big bool) gopter.Gen {
	choices := []gen.WeightedGen{
		{Weight: 30, Gen: gen.IntRange(0, len(boundaryLens)-1).Map(func(i int) int { return boundaryLens[i] })},
		{Weight: 50, Gen: gen.IntRange(0, 300)},
		{Weight: 15, Gen: gen.IntRange(0, 70000)},
	}
	if big {
		choices = append(choices, gen.WeightedGen{Weight: 1, Gen: gen.IntRange(1<<20, 3<<20)})
	}
	return gen.Weighted(choices)
}

// GenFrameSpec draws any frame: every opcode, FIN, RSV combination.
func GenFrameSpec(big bool) gopter.Gen {
	return gen.Struct(reflect.TypeOf(FrameSpec{}), map[string]gopter.Gen{
		"Fin":    gen.Bool(),
		"Rsv":    gen.UInt8Range(0, 7),
		"Opcode": gen.UInt8Range(0, 15),
		"Key":    gen.UInt32(),
		"Len":    GenPayloadLen(big),
		"Seed":   gen.UInt64(),
	})
}

// GenFrameSpecs draws a list of frames (at most the test's MaxSize).
func GenFrameSpecs() gopter.Gen { return gen.SliceOf(GenFrameSpec(false)) }

// Messages turns any list of frames into a valid message stream: control
// frames normalised and free to sit between fragments; a data frame
// continues the message in progress (opcode 0) or starts one (text or
// binary); the last message is finished by a final continuation.
func Messages(specs []FrameSpec) []FrameSpec {
	var out []FrameSpec
	inMessage := false
	for _, f := range specs {
		f = f.Valid()
		if !f.IsControl() {
			switch {
			case inMessage:
				f.Opcode = 0x0
			case f.Opcode == 0x0:
				f.Opcode = 0x1 + uint8(f.Seed%2)
			}
			inMessage = !f.Fin
		}
		out = append(out, f)
	}
	if inMessage {
		out = append(out, FrameSpec{Fin: true, Opcode: 0x0, Len: 3, Seed: 7})
	}
	return out
}

// RawFrame is a frame written byte by byte from raw field values, valid or
// not: any byte 0, either MASK bit, any 7-bit length, any extended length
// (top bit included), a payload that may or may not match the length. It
// reaches every rule of the header grammar; the encoder could not write most
// of these.
type RawFrame struct {
	B0      uint8 // FIN, RSV1-3, opcode
	Masked  bool
	Len7    uint8  // 0-127
	Ext     uint64 // written in 2 bytes when Len7 is 126, in 8 when 127
	Key     uint32
	Matches bool // the payload has the announced length (capped), else Body bytes
	Body    int
	Seed    uint64
}

// Bytes writes the frame.
func (r RawFrame) Bytes() []byte {
	len7 := r.Len7 & 0x7F
	b1 := len7
	if r.Masked {
		b1 |= 0x80
	}
	out := []byte{r.B0, b1}
	length := uint64(len7)
	switch len7 {
	case 126:
		out = binary.BigEndian.AppendUint16(out, uint16(r.Ext))
		length = uint64(uint16(r.Ext))
	case 127:
		out = binary.BigEndian.AppendUint64(out, r.Ext)
		length = r.Ext
	}
	if r.Masked {
		out = binary.BigEndian.AppendUint32(out, r.Key)
	}
	body := r.Body
	if r.Matches {
		body = int(min(length, 70000))
	}
	return append(out, FrameSpec{Len: body, Seed: r.Seed}.Payload()...)
}

// GenRawFrames draws streams of raw frames, lengths weighted to the edges.
func GenRawFrames() gopter.Gen {
	edges7 := []uint8{0, 1, 125, 126, 127}
	// Byte 0 values a peer sends, and one of each broken kind.
	edges0 := []uint8{0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0x08, 0x09, 0xC1, 0xC9, 0x83, 0x8B}
	return gen.SliceOf(gen.Struct(reflect.TypeOf(RawFrame{}), map[string]gopter.Gen{
		"B0": gen.Weighted([]gen.WeightedGen{
			{Weight: 1, Gen: gen.IntRange(0, len(edges0)-1).Map(func(i int) uint8 { return edges0[i] })},
			{Weight: 1, Gen: gen.UInt8()},
		}),
		"Masked": gen.Bool(),
		"Len7": gen.Weighted([]gen.WeightedGen{
			{Weight: 1, Gen: gen.IntRange(0, len(edges7)-1).Map(func(i int) uint8 { return edges7[i] })},
			{Weight: 1, Gen: gen.UInt8Range(0, 127)},
		}),
		"Ext": gen.Weighted([]gen.WeightedGen{
			{Weight: 3, Gen: gen.UInt64Range(0, 300)},
			{Weight: 1, Gen: gen.UInt64Range(65530, 65540)},
			{Weight: 1, Gen: gen.UInt64Range(1<<63-3, 1<<63+3)},
			{Weight: 1, Gen: gen.UInt64Range(1<<63, 1<<64-1)},
			{Weight: 1, Gen: gen.UInt64()},
		}),
		"Key":     gen.UInt32(),
		"Matches": gen.Weighted([]gen.WeightedGen{{Weight: 4, Gen: gen.Const(true)}, {Weight: 1, Gen: gen.Const(false)}}),
		"Body":    gen.IntRange(0, 200),
		"Seed":    gen.UInt64(),
	}))
}

// RawStream concatenates raw frames.
func RawStream(fs []RawFrame) []byte {
	var out []byte
	for _, f := range fs {
		out = append(out, f.Bytes()...)
	}
	return out
}

// Mutation changes a stream at one place.
type Mutation struct {
	Pos  uint32
	Kind uint8 // 0 replace, 1 insert, 2 delete, 3 flip one bit, 4 truncate
	Byte uint8
}

// Apply returns a mutated copy of in.
func (m Mutation) Apply(in []byte) []byte {
	out := append([]byte(nil), in...)
	if len(out) == 0 {
		return append(out, m.Byte)
	}
	i := int(m.Pos % uint32(len(out)))
	switch m.Kind % 5 {
	case 0:
		out[i] = m.Byte
	case 1:
		out = append(out[:i], append([]byte{m.Byte}, out[i:]...)...)
	case 2:
		out = append(out[:i], out[i+1:]...)
	case 3:
		out[i] ^= 1 << (m.Byte % 8)
	case 4:
		out = out[:i]
	}
	return out
}

// GenMutations draws a few mutations.
func GenMutations() gopter.Gen {
	return gen.SliceOf(gen.Struct(reflect.TypeOf(Mutation{}), map[string]gopter.Gen{
		"Pos":  gen.UInt32(),
		"Kind": gen.UInt8Range(0, 4),
		"Byte": gen.UInt8(),
	})).Map(func(ms []Mutation) []Mutation { return ms[:min(len(ms), 4)] })
}

// GenSplitPlan draws chunk lengths to cut a stream with, cycled until the
// stream is used up. An empty plan means one chunk for everything; a plan
// of 1s feeds a byte at a time.
func GenSplitPlan() gopter.Gen {
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 1, Gen: gen.Const([]int{})},
		{Weight: 1, Gen: gen.Const([]int{1})},
		{Weight: 6, Gen: gen.SliceOf(gen.Weighted([]gen.WeightedGen{
			{Weight: 3, Gen: gen.IntRange(1, 3)},
			{Weight: 3, Gen: gen.IntRange(1, 20)},
			{Weight: 2, Gen: gen.IntRange(1, 5000)},
		}))},
	})
}

// Split cuts in according to plan: chunks of plan[0], plan[1], ... bytes,
// cycling through plan, the whole of in when plan is empty. It yields the
// chunks one by one instead of building a list: a 1-byte plan over a few
// MiB would otherwise cost a slice header per byte.
func Split(in []byte, plan []int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if len(plan) == 0 {
			yield(in)
			return
		}
		for i := 0; len(in) > 0; i++ {
			n := min(max(plan[i%len(plan)], 1), len(in))
			if !yield(in[:n]) {
				return
			}
			in = in[n:]
		}
	}
}

// GenBytes draws arbitrary byte strings.
func GenBytes() gopter.Gen { return gen.SliceOf(gen.UInt8()) }

// Defect is a way to break UTF-8 at a chosen place.
var Defects = [][]byte{
	{0xC0, 0xAF},             // overlong 2-byte
	{0xC1, 0xBF},             // overlong 2-byte
	{0xE0, 0x80, 0xAF},       // overlong 3-byte
	{0xF0, 0x80, 0x80, 0xAF}, // overlong 4-byte
	{0xED, 0xA0, 0x80},       // surrogate U+D800
	{0xED, 0xBF, 0xBF},       // surrogate U+DFFF
	{0xF4, 0x90, 0x80, 0x80}, // U+110000
	{0xF5, 0x80, 0x80, 0x80}, // lead byte above F4
	{0xE2, 0x82, 'a'},        // truncated, then ASCII
	{0xF0, 0x9F, 0x94},       // truncated 4-byte: invalid if anything follows, else incomplete
	{0x80},                   // stray continuation
	{0xFF},                   // never valid
	{0xC3, 0x28},             // lead without continuation
}

// GenRunes draws text as runes from every encoding length, with the edges
// (U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF) and the
// neighbours of the surrogate range. Text(runes) is valid UTF-8. Runes, not
// bytes, so that a failing text shrinks rune by rune.
func GenRunes() gopter.Gen {
	edges := []rune{0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF}
	return gen.SliceOf(gen.Weighted([]gen.WeightedGen{
		{Weight: 40, Gen: gen.Int32Range(0x20, 0x7E)},
		{Weight: 10, Gen: gen.Int32Range(0x80, 0x7FF)},
		{Weight: 10, Gen: gen.Int32Range(0x800, 0xD7FF)},
		{Weight: 5, Gen: gen.Int32Range(0xE000, 0xFFFF)},
		{Weight: 10, Gen: gen.Int32Range(0x10000, 0x10FFFF)},
		{Weight: 5, Gen: gen.IntRange(0, len(edges)-1).Map(func(i int) rune { return edges[i] })},
	}))
}

// Text encodes runes as UTF-8.
func Text(rs []rune) []byte { return []byte(string(rs)) }

// BrokenText is valid text with a defect inserted before rune At.
type BrokenText struct {
	Runes  []rune
	At     int
	Defect int // index into Defects
}

// Bytes returns the broken text and the index where the defect starts.
func (b BrokenText) Bytes() ([]byte, int) {
	at := min(b.At, len(b.Runes))
	out := Text(b.Runes[:at])
	start := len(out)
	out = append(out, Defects[b.Defect%len(Defects)]...)
	return append(out, Text(b.Runes[at:])...), start
}

// GenBrokenText draws valid text broken at a chosen place.
func GenBrokenText() gopter.Gen {
	return gen.Struct(reflect.TypeOf(BrokenText{}), map[string]gopter.Gen{
		"Runes":  GenRunes(),
		"At":     gen.IntRange(0, 100),
		"Defect": gen.IntRange(0, len(Defects)-1),
	})
}
