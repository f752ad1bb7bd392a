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

// sliceUpTo draws slices of elem with 0 to n elements, whatever the test's
// MaxSize. The elements are drawn with size n+1 as well: an element that
// is a list sets its own size with sliceUpTo.
func sliceUpTo(n int, elem gopter.Gen) gopter.Gen {
	g := gen.SliceOf(elem)
	return func(p *gopter.GenParameters) *gopter.GenResult { return g(p.WithSize(n + 1)) }
}

// GenSmallPayloadLen draws the payload lengths of long streams: mostly
// 0-300 bytes and the 7-bit/16-bit boundaries, rarely a 64 KiB one, so that
// a stream of 200 frames stays small.
func GenSmallPayloadLen() gopter.Gen {
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 60, Gen: gen.IntRange(0, 300)},
		{Weight: 20, Gen: gen.IntRange(0, 4).Map(func(i int) int { return boundaryLens[i] })},
		{Weight: 1, Gen: gen.IntRange(5, 6).Map(func(i int) int { return boundaryLens[i] })},
	})
}

// GenFrameSpecs draws lists of frames: short lists (up to 24) of frames of
// any length, and long streams of up to 200 mostly small frames.
func GenFrameSpecs() gopter.Gen {
	small := gen.Struct(reflect.TypeOf(FrameSpec{}), map[string]gopter.Gen{
		"Fin":    gen.Bool(),
		"Rsv":    gen.UInt8Range(0, 7),
		"Opcode": gen.UInt8Range(0, 15),
		"Key":    gen.UInt32(),
		"Len":    GenSmallPayloadLen(),
		"Seed":   gen.UInt64(),
	})
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 3, Gen: sliceUpTo(24, GenFrameSpec(false))},
		{Weight: 1, Gen: sliceUpTo(200, small)},
	})
}

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
	Shape     uint8  // how the fields are bent before writing (the Shape constants)
	B0        uint8  // FIN, RSV1-3, opcode
	WrongMask bool   // the MASK bit is the one the reader's role forbids
	Len7      uint8  // 0-127
	Ext       uint64 // written in 2 bytes when Len7 is 126, in 8 when 127
	Key       uint32
	Matches   bool // the payload has the announced length (capped), else Body bytes
	Body      int
	Seed      uint64
}

// Shapes of a raw frame. Fields drawn at random break the first rule they
// can (byte 0 mostly), so the rules of the later header bytes would be
// reached rarely and a stream would seldom get past its first frame. A
// shape bends the drawn fields into a frame that is well formed, or that
// breaks one chosen rule of RFC 6455 §5.2 and keeps the rest.
const (
	ShapeAsDrawn           uint8 = iota // the fields as drawn
	ShapeWellFormed                     // a defined opcode, FIN on control, no RSV, the right MASK bit, control ≤ 125
	ShapeReservedOpcode                 // opcode 0x3-0x7 or 0xB-0xF
	ShapeFragmentedControl              // control opcode, FIN clear
	ShapeControlRSV                     // control opcode, FIN set, an RSV bit
	ShapeDataRSV                        // data opcode, an RSV bit (allowed or not by the configuration)
	ShapeControlTooLong                 // control opcode, 7-bit length 126 or 127
	ShapeWrongMask                      // the MASK bit wrong for the reader's role
	ShapeLengthTopBit                   // data opcode, 64-bit length with its top bit set
	ShapeHugeLength                     // data opcode, 64-bit length between 2^32 and 2^63-1
	shapes
)

// shaped returns r with its fields bent to its Shape.
func (r RawFrame) shaped() RawFrame {
	control := []uint8{0x8, 0x9, 0xA}
	data := []uint8{0x0, 0x1, 0x2}
	ctl := control[int(r.B0)%3]
	dat := data[int(r.B0)%3]
	wellFormed := func() {
		if r.B0&0x08 != 0 {
			r.B0 = 0x80 | ctl
			r.Len7 = min(r.Len7&0x7F, 125)
		} else {
			r.B0 = r.B0&0x80 | dat
		}
		r.WrongMask = false
	}
	switch r.Shape % shapes {
	case ShapeWellFormed:
		wellFormed()
	case ShapeReservedOpcode:
		reserved := []uint8{0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}
		r.B0 = r.B0&0xF0 | reserved[int(r.B0)%len(reserved)]
	case ShapeFragmentedControl:
		r.B0 = r.B0&0x70 | ctl
	case ShapeControlRSV:
		r.B0 = 0x80 | max(r.B0&0x70, 0x10) | ctl
	case ShapeDataRSV:
		r.B0 = r.B0&0x80 | max(r.B0&0x70, 0x10) | dat
		r.WrongMask = false
	case ShapeControlTooLong:
		wellFormed()
		r.B0 = 0x80 | ctl
		r.Len7 = 126 + r.Len7&1
	case ShapeWrongMask:
		wellFormed()
		r.WrongMask = true
	case ShapeLengthTopBit:
		wellFormed()
		r.B0 = r.B0&0x80 | dat
		r.Len7, r.Ext = 127, r.Ext|1<<63
	case ShapeHugeLength:
		wellFormed()
		r.B0 = r.B0&0x80 | dat
		r.Len7, r.Ext = 127, max(r.Ext&(1<<63-1), 1<<32)
	}
	return r
}

// Bytes writes the frame for a reader of the given role: masked when a
// server reads it, unless WrongMask.
func (r RawFrame) Bytes(serverReads bool) []byte {
	r = r.shaped()
	masked := serverReads != r.WrongMask
	len7 := r.Len7 & 0x7F
	b1 := len7
	if masked {
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
	if masked {
		out = binary.BigEndian.AppendUint32(out, r.Key)
	}
	body := r.Body
	if r.Matches {
		body = int(min(length, 70000))
	}
	return append(out, FrameSpec{Len: body, Seed: r.Seed}.Payload()...)
}

// GenRawFrames draws streams of up to 40 raw frames, lengths weighted to
// the edges: fields as drawn, well-formed frames (so that streams go on),
// and frames that break one chosen rule; byte 0 mostly one a peer sends or
// one of each broken kind, the MASK bit mostly right (a wrong one hides
// every rule after it).
func GenRawFrames() gopter.Gen {
	edges7 := []uint8{0, 1, 125, 126, 127}
	// Byte 0 values a peer sends, and one of each broken kind.
	edges0 := []uint8{0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0x08, 0x09, 0xC1, 0xA2, 0x91, 0xC9, 0x83, 0x8B}
	return sliceUpTo(40, gen.Struct(reflect.TypeOf(RawFrame{}), map[string]gopter.Gen{
		"Shape": gen.Weighted([]gen.WeightedGen{
			{Weight: 4, Gen: gen.Const(ShapeAsDrawn)},
			{Weight: 8, Gen: gen.Const(ShapeWellFormed)},
			{Weight: 8, Gen: gen.UInt8Range(ShapeReservedOpcode, shapes-1)},
		}),
		"B0": gen.Weighted([]gen.WeightedGen{
			{Weight: 3, Gen: gen.IntRange(0, len(edges0)-1).Map(func(i int) uint8 { return edges0[i] })},
			{Weight: 1, Gen: gen.UInt8()},
		}),
		"WrongMask": gen.Weighted([]gen.WeightedGen{{Weight: 1, Gen: gen.Const(true)}, {Weight: 6, Gen: gen.Const(false)}}),
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

// RawStream concatenates raw frames written for a reader of the given role.
func RawStream(fs []RawFrame, serverReads bool) []byte {
	var out []byte
	for _, f := range fs {
		out = append(out, f.Bytes(serverReads)...)
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

// GenBytes draws arbitrary byte strings: every length from 0 to 300 often,
// longer ones up to 4 KiB now and then, and rarely up to 64 KiB.
func GenBytes() gopter.Gen {
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 16, Gen: genByteString(0, 300)},
		{Weight: 3, Gen: genByteString(301, 4096)},
		{Weight: 1, Gen: genByteString(4097, 64<<10)},
	})
}

// genByteString draws random bytes, lo to hi of them, straight from the
// generator's source (one draw per 8 bytes, not one generator call per
// byte); they shrink like any slice: shorter, then byte by byte.
func genByteString(lo, hi int) gopter.Gen {
	return func(p *gopter.GenParameters) *gopter.GenResult {
		b := make([]byte, lo+p.Rng.Intn(hi-lo+1))
		for i := 0; i < len(b); i += 8 {
			v := p.NextUint64()
			for j := i; j < min(i+8, len(b)); j++ {
				b[j] = byte(v)
				v >>= 8
			}
		}
		return gopter.NewGenResult(b, gen.SliceShrinker(gen.UInt8Shrinker))
	}
}

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
	{0xE2, 0x82},             // truncated 3-byte, likewise
	{0xC3},                   // truncated 2-byte, likewise
	{0x80},                   // stray continuation
	{0xFF},                   // never valid
	{0xC3, 0x28},             // lead without continuation
}

// GenRunes draws text as runes from every encoding length, with the edges
// (U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF) and the
// neighbours of the surrogate range. Text(runes) is valid UTF-8. Runes, not
// bytes, so that a failing text shrinks rune by rune.
func GenRunes() gopter.Gen { return gen.SliceOf(genRune()) }

// genRune draws one rune of GenRunes.
func genRune() gopter.Gen {
	edges := []rune{0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF}
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 40, Gen: gen.Int32Range(0x20, 0x7E)},
		{Weight: 10, Gen: gen.Int32Range(0x80, 0x7FF)},
		{Weight: 10, Gen: gen.Int32Range(0x800, 0xD7FF)},
		{Weight: 5, Gen: gen.Int32Range(0xE000, 0xFFFF)},
		{Weight: 10, Gen: gen.Int32Range(0x10000, 0x10FFFF)},
		{Weight: 5, Gen: gen.IntRange(0, len(edges)-1).Map(func(i int) rune { return edges[i] })},
	})
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

// MaskCase is masking work: Len bytes drawn from Seed, masked with Key from
// Offset, placed Align bytes into a buffer with guard bytes around.
type MaskCase struct {
	Len    int
	Seed   uint64
	Key    uint32
	Offset int
	Align  int
}

// maskEdges are the lengths around the masking code's steps: the 128-byte
// vector blocks (1 to 3 of them), the 32- and 8-byte word loops and the
// byte tail after each.
var maskEdges = []int{7, 8, 9, 31, 32, 33, 39, 40, 127, 128, 129, 135, 136, 159, 160, 167, 168, 255, 256, 257, 383, 384, 385, 65535, 65536}

// GenMaskCase draws masking work: every length from 0 to 300 densely (no
// vector block, one, two and all their tails), the edges above, and lengths
// up to 64 KiB (many vector blocks).
func GenMaskCase() gopter.Gen {
	return gen.Struct(reflect.TypeOf(MaskCase{}), map[string]gopter.Gen{
		"Len": gen.Weighted([]gen.WeightedGen{
			{Weight: 12, Gen: gen.IntRange(0, 300)},
			{Weight: 4, Gen: gen.IntRange(0, len(maskEdges)-1).Map(func(i int) int { return maskEdges[i] })},
			{Weight: 3, Gen: gen.IntRange(301, 64<<10)},
		}),
		"Seed":   gen.UInt64(),
		"Key":    gen.UInt32(),
		"Offset": gen.IntRange(0, 1<<20),
		"Align":  gen.IntRange(0, 63),
	})
}
