package proptest

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/wsframe"
)

const defaultLimit = wsframe.DefaultMaxPayload

func TestFrameProperties(t *testing.T) {
	props := newProperties(t)

	props.Property("parse(encode(f)) == f, for both roles", prop.ForAll(
		func(spec FrameSpec) string {
			f := spec.Valid()
			if !f.IsControl() {
				f.Rsv = spec.Rsv // any RSV bit, allowed below
			}
			for _, clientSends := range []bool{true, false} {
				c := RefConfig{Server: clientSends, AllowedRSV: 7, MaxPayload: math.MaxInt64}
				want := RefResult{Frames: []RefFrame{f.Ref(clientSends)}}
				if d := diff(Parse(c, f.Encode(nil, clientSends), nil), want); d != "" {
					return fmt.Sprintf("client sends %v: %s", clientSends, d)
				}
			}
			return ""
		},
		GenFrameSpec(true),
	))

	props.Property("any split of a stream yields the same frames and the same error at the same offset", prop.ForAll(
		func(specs []FrameSpec, muts []Mutation, plan []int, clientSends bool) string {
			in := encodeAll(Messages(specs), clientSends)
			for _, m := range muts {
				in = m.Apply(in)
			}
			c := RefConfig{Server: clientSends, MaxPayload: defaultLimit}
			return diff(Parse(c, in, plan), Parse(c, in, nil))
		},
		GenFrameSpecs(), GenMutations(), GenSplitPlan(), gen.Bool(),
	))

	props.Property("the generated parser agrees with the reference decoder on arbitrary bytes", prop.ForAll(
		func(in []byte, plan []int, server bool, rsv uint8, limit uint64) string {
			c := RefConfig{Server: server, AllowedRSV: rsv, MaxPayload: limit}
			return diff(Parse(c, in, plan), RefDecode(in, c))
		},
		GenBytes(), GenSplitPlan(), gen.Bool(), gen.UInt8Range(0, 7), genLimit(),
	))

	props.Property("the generated parser agrees with the reference decoder on raw frames with any header fields", prop.ForAll(
		func(fs []RawFrame, plan []int, server bool, rsv uint8, limit uint64) string {
			in := RawStream(fs)
			c := RefConfig{Server: server, AllowedRSV: rsv, MaxPayload: limit}
			return diff(Parse(c, in, plan), RefDecode(in, c))
		},
		GenRawFrames(), GenSplitPlan(), gen.Bool(), gen.UInt8Range(0, 7), genLimit(),
	))

	props.Property("the generated parser agrees with the reference decoder on mutated valid streams", prop.ForAll(
		func(specs []FrameSpec, muts []Mutation, plan []int, clientSends bool, rsv uint8, limit uint64) string {
			in := encodeAll(Messages(specs), clientSends)
			for _, m := range muts {
				in = m.Apply(in)
			}
			c := RefConfig{Server: clientSends, AllowedRSV: rsv, MaxPayload: limit}
			return diff(Parse(c, in, plan), RefDecode(in, c))
		},
		GenFrameSpecs(), GenMutations(), GenSplitPlan(), gen.Bool(), gen.UInt8Range(0, 7), genLimit(),
	))

	props.Property("a length above the limit fails with 1009 on its last byte, before any payload, allocating only the error", prop.ForAll(
		func(limit uint64, excess uint64, clientSends bool, tail []byte) string {
			length := limit + 1 + excess%(math.MaxInt64-limit)
			h := wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Length: int64(length), Masked: clientSends}
			in := append(wsframe.AppendHeader(nil, h), tail...)
			c := RefConfig{Server: clientSends, MaxPayload: limit}
			lastLenByte := int64(wsframe.HeaderSize(h) - 1)
			if clientSends {
				lastLenByte -= 4
			}
			want := RefResult{Code: 1009, ErrOffset: lastLenByte}
			if d := diff(Parse(c, in, []int{1}), want); d != "" {
				return d
			}
			p := wsframe.NewParser(parserConfig(c))
			allocs := testing.AllocsPerRun(1, func() {
				p.Reset(parserConfig(c))
				buf := append([]byte(nil), in...)
				for {
					ev, n, err := p.Next(buf)
					if err != nil || ev.Kind == wsframe.EventNone {
						return
					}
					if ev.Kind == wsframe.EventPayload {
						panic("payload event for a frame over the limit")
					}
					buf = buf[n:]
				}
			})
			if allocs > 2 { // the copy of the input and the error value
				return fmt.Sprintf("%v allocations", allocs)
			}
			return ""
		},
		gen.UInt64Range(0, 1<<40), gen.UInt64(), gen.Bool(), GenBytes(),
	))

	props.Property("masking twice is identity; masking in pieces at any offsets equals masking whole", prop.ForAll(
		func(data []byte, key uint32, offset int, plan []int) string {
			k := FrameSpec{Key: key}.MaskKey()
			whole := append([]byte(nil), data...)
			next := wsframe.Mask(k, offset, whole)
			if next != (offset+len(data))%4 {
				return fmt.Sprintf("next offset %d", next)
			}
			for i := range data {
				if whole[i] != data[i]^k[(offset+i)%4] {
					return fmt.Sprintf("byte %d not masked by key[%d]", i, (offset+i)%4)
				}
			}
			pieces := append([]byte(nil), data...)
			off := offset
			for chunk := range Split(pieces, plan) {
				off = wsframe.Mask(k, off, chunk)
			}
			if !bytes.Equal(pieces, whole) {
				return "pieces differ from whole"
			}
			wsframe.Mask(k, offset, whole)
			if !bytes.Equal(whole, data) {
				return "masking twice is not identity"
			}
			return ""
		},
		gen.SliceOf(gen.UInt8()).Map(func(b []byte) []byte { return bytes.Repeat(b, 7) }), // lengths past the vector loop's 128
		gen.UInt32(), gen.IntRange(0, 1<<20), GenSplitPlan(),
	))

	props.TestingRun(t)
}

// genLimit draws frame limits: tiny, around the length-encoding
// boundaries, and the default.
func genLimit() gopter.Gen {
	return gen.Weighted([]gen.WeightedGen{
		{Weight: 2, Gen: gen.UInt64Range(0, 300)},
		{Weight: 1, Gen: gen.UInt64Range(65530, 65540)},
		{Weight: 3, Gen: gen.Const(uint64(defaultLimit))},
	})
}

// Edge streams that reach every state, the error states included, fed one
// byte at a time for both roles.
var edgeStreams = []string{
	"81 85 37 fa 21 3d 7f 9f 4d 51 58", // masked Hello
	"81 05 48 65 6c 6c 6f",             // unmasked Hello
	"82 FE 00 02 01 02 03 04 AA BB",    // masked 16-bit length
	"82 7E 00 02 AA BB",
	"82 FF 00 00 00 00 00 00 00 01 01 02 03 04 AA", // masked 64-bit length
	"82 7F 00 00 00 00 00 00 00 01 AA",
	"89 80 01 02 03 04", "89 00", // control frames
	"83", "09", "C9", // reserved opcode, fragmented control, RSV on control
	"89 FE", "89 7E", // control too long
	"81 05", "81 85", // wrong mask for one role or the other
	"82 FF 80", "82 7F 80", // 64-bit length top bit
}

// Property 8: the generated streams, mutated, with the edge table, visit
// every state of both frame machines. (That each machine passes fsm.Check
// is enforced by the generator itself and by gen's tests.)
func TestFrameMachineStateCoverage(t *testing.T) {
	coverage.Lock()
	coverage.seen = map[string]bool{}
	coverage.Unlock()
	props := newProperties(t)
	props.Property("streams visit states", prop.ForAll(
		func(specs []FrameSpec, muts []Mutation, raw []RawFrame, clientSends bool) bool {
			in := encodeAll(Messages(specs), clientSends)
			for _, m := range muts {
				in = m.Apply(in)
			}
			Parse(RefConfig{Server: clientSends}, in, []int{1})
			for _, server := range []bool{true, false} {
				Parse(RefConfig{Server: server}, RawStream(raw), []int{1})
			}
			return true
		},
		GenFrameSpecs(), GenMutations(), GenRawFrames(), gen.Bool(),
	))
	props.TestingRun(t)
	coverage.Lock()
	t.Logf("frame machine states visited by generated streams: %d of %d; not visited: %s",
		len(coverage.seen), wsframe.StateCount, strings.Join(unvisited(), ", "))
	coverage.Unlock()
	for _, s := range edgeStreams {
		for _, server := range []bool{true, false} {
			Parse(RefConfig{Server: server, MaxPayload: defaultLimit}, unhex(s), []int{1})
		}
	}
	coverage.Lock()
	defer coverage.Unlock()
	missing := unvisited()
	t.Logf("with the edge table: %d of %d states", wsframe.StateCount-len(missing), wsframe.StateCount)
	if len(missing) > 0 {
		t.Errorf("states never visited: %s", strings.Join(missing, ", "))
	}
}

// unvisited lists the states coverage has not seen; the caller holds the lock.
func unvisited() []string {
	var missing []string
	for i := 0; i < wsframe.StateCount; i++ {
		if !coverage.seen[wsframe.StateName(i)] {
			missing = append(missing, wsframe.StateName(i))
		}
	}
	return missing
}

func unhex(s string) []byte {
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		fmt.Sscanf(f, "%x", &v)
		b = append(b, v)
	}
	return b
}
