package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/internal/seeded"
)

// properties: 100 cases (15 under the race detector), PROPTEST_SEED and
// PROPTEST_N as everywhere (internal/seeded).
func properties(t *testing.T) *gopter.Properties {
	n := 100
	if raceEnabled {
		n = 15
	}
	p := seeded.Parameters(t, "./wsconn/internal/deflate", n)
	p.MaxSize = 24
	return gopter.NewProperties(p)
}

// message draws a message: empty, random bytes, a run, text drawn from a
// few words (so that context matters), or a slice of the JSON corpus, up to
// ~40 KiB so that windows fill and wrap.
var jsonCorpus = smallJSON(500)

func message() gopter.Gen {
	return gen.OneGenOf(
		gen.Const([]byte{}),
		gen.SliceOf(gen.UInt8()).Map(func(b []uint8) []byte { return []byte(b) }),
		gopter.CombineGens(gen.UInt8(), gen.IntRange(1, 70000)).Map(func(v []any) []byte {
			return bytes.Repeat([]byte{v[0].(uint8)}, v[1].(int))
		}),
		gen.SliceOf(gen.OneConstOf("hello ", "world ", "json ", "{\"a\":1}", "\n", "é", "\x00")).Map(func(ws []string) []byte {
			var b []byte
			for range 1 + len(ws)%7 {
				for _, w := range ws {
					b = append(b, w...)
				}
			}
			return b
		}),
		gopter.CombineGens(gen.IntRange(0, len(jsonCorpus)-1), gen.IntRange(1, 300)).Map(func(v []any) []byte {
			var b []byte
			for _, m := range jsonCorpus[v[0].(int):min(len(jsonCorpus), v[0].(int)+v[1].(int))] {
				b = append(b, m...)
			}
			return b
		}),
	)
}

// config draws one direction's parameters.
func config() gopter.Gen {
	return gopter.CombineGens(gen.Bool(), gen.IntRange(MinWindowBits, MaxWindowBits), gen.IntRange(1, 9),
		gen.OneConstOf(0, 1, 100, 4096, 1<<15)).Map(func(v []any) Config {
		return Config{NoContextTakeover: v[0].(bool), WindowBits: v[1].(int), Level: v[2].(int), Context: v[3].(int)}
	})
}

// splits: piece sizes, cycled, 1 to 5000 bytes.
func splits() gopter.Gen {
	return gen.SliceOf(gen.OneGenOf(gen.IntRange(1, 8), gen.IntRange(1, 5000)))
}

// TestPropertyRoundTrip: compress → any split → inflate gives every message
// back, with and without context takeover, any window, two connections
// interleaved over the shared pools.
func TestPropertyRoundTrip(t *testing.T) {
	props := properties(t)
	props.Property("inflate(split(compress(m))) == m, across messages and connections", prop.ForAll(
		func(msgs [][]byte, cfg Config, sizes []int) string {
			type conn struct {
				c *Compressor
				d *Decompressor
			}
			var conns [2]conn
			for i := range conns {
				c, err := NewCompressor(cfg)
				if err != nil {
					return err.Error()
				}
				d, err := NewDecompressor(cfg, 1<<20)
				if err != nil {
					return err.Error()
				}
				defer d.Abort()
				conns[i] = conn{c, d}
			}
			for i, m := range msgs {
				for k, cn := range conns {
					if k == 1 && i%3 == 0 {
						continue // the second connection skips some messages
					}
					z, err := cn.c.Compress(nil, m)
					if err != nil {
						return fmt.Sprintf("compress %d: %v", i, err)
					}
					got, err := inflateSplit(cn.d, z, sizes)
					if err != nil {
						return fmt.Sprintf("connection %d message %d (%d bytes, %d compressed): %v", k, i, len(m), len(z), err)
					}
					if !bytes.Equal(got, m) {
						return fmt.Sprintf("connection %d message %d: %d bytes back, %d sent", k, i, len(got), len(m))
					}
				}
			}
			return ""
		},
		gen.SliceOf(message()), config(), splits(),
	))
	props.TestingRun(t)
}

// TestPropertyAgreesWithReference: a stream made by compress/flate (one
// writer for the whole connection, a sync flush per message: what zlib
// peers send) inflates to the same messages in any split; and what the
// Compressor sends, compress/flate's reader inflates as one stream (the
// peer's view of context takeover).
func TestPropertyAgreesWithReference(t *testing.T) {
	props := properties(t)
	props.Property("inflate(reference compress) == m and reference inflate(compress) == m", prop.ForAll(
		func(msgs [][]byte, cfg Config, level int, sizes []int) string {
			// Reference → ours.
			var ref bytes.Buffer
			w, _ := stdflate.NewWriter(&ref, level)
			d, _ := NewDecompressor(Config{}, 1<<20)
			defer d.Abort()
			for i, m := range msgs {
				ref.Reset()
				w.Write(m)
				w.Flush()
				z := bytes.TrimSuffix(ref.Bytes(), tail[:])
				got, err := inflateSplit(d, z, sizes)
				if err != nil || !bytes.Equal(got, m) {
					return fmt.Sprintf("reference message %d: %d bytes back of %d, %v", i, len(got), len(m), err)
				}
			}
			// Ours → reference: with context takeover the messages form one
			// DEFLATE stream once each gets its tail back.
			c, err := NewCompressor(cfg)
			if err != nil {
				return err.Error()
			}
			var stream bytes.Buffer
			for i, m := range msgs {
				z, err := c.Compress(nil, m)
				if err != nil {
					return err.Error()
				}
				if cfg.NoContextTakeover {
					got, err := io.ReadAll(stdflate.NewReader(bytes.NewReader(append(append(z, tail[:]...), finalBlock[:]...))))
					if err != nil || !bytes.Equal(got, m) {
						return fmt.Sprintf("message %d alone: %v", i, err)
					}
				}
				stream.Write(z)
				stream.Write(tail[:])
			}
			stream.Write(finalBlock[:])
			if !cfg.NoContextTakeover {
				got, err := io.ReadAll(stdflate.NewReader(&stream))
				if err != nil || !bytes.Equal(got, bytes.Join(msgs, nil)) {
					return fmt.Sprintf("the stream: %d bytes, %v", len(got), err)
				}
			}
			return ""
		},
		gen.SliceOf(message()), config(), gen.IntRange(-2, 9), splits(),
	))
	props.TestingRun(t)
}

// TestPropertyLimit: for every limit and split, a message within the limit
// comes back whole and a longer one fails with ErrTooBig having delivered
// at most limit bytes.
func TestPropertyLimit(t *testing.T) {
	props := properties(t)
	props.Property("len(m) <= limit ? inflate == m : ErrTooBig with at most limit bytes out", prop.ForAll(
		func(m []byte, delta int, takeover bool, sizes []int) string {
			limit := max(int64(len(m)+delta), 0)
			cfg := Config{NoContextTakeover: !takeover}
			c, _ := NewCompressor(cfg)
			d, _ := NewDecompressor(cfg, limit)
			defer d.Abort()
			// A first message within the limit, so takeover has a window.
			warm := m[:min(len(m), int(limit))]
			z, _ := c.Compress(nil, warm)
			if got, err := inflateSplit(d, z, sizes); err != nil || !bytes.Equal(got, warm) {
				return fmt.Sprintf("warm-up: %v", err)
			}
			z, _ = c.Compress(nil, m)
			got, err := inflateSplit(d, z, sizes)
			if int64(len(m)) <= limit {
				if err != nil || !bytes.Equal(got, m) {
					return fmt.Sprintf("within the limit: %v", err)
				}
				return ""
			}
			if !errors.Is(err, ErrTooBig) {
				return fmt.Sprintf("%d bytes over a limit of %d: %v", len(m), limit, err)
			}
			if int64(len(got)) > limit {
				return fmt.Sprintf("%d bytes delivered past a limit of %d", len(got), limit)
			}
			return ""
		},
		message(), gen.IntRange(-3000, 3), gen.Bool(), splits(),
	))
	props.TestingRun(t)
}
