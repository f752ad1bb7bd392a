package deflate

// The measurement that chose the implementation: Go's compress/flate
// against github.com/klauspost/compress/flate, through the same Compressor
// and Decompressor code, on the corpus of corpus_test.go.
//
//	go test -run '^$' -bench . -benchtime 2000x ./wsconn/internal/deflate
//	DEFLATE_COMPARE=1 go test -run TestCompareTable -v -timeout 30m ./wsconn/internal/deflate
//
// The second prints everything side by side, as ratios to compress/flate
// level 1 ("std L1 keep"), with memory per idle connection and the size threshold table.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	stdflate "compress/flate"
)

type stdWriter struct{ *stdflate.Writer }

// ResetDict is never called: stdlib.resetDict is false.
func (stdWriter) ResetDict(io.Writer, []byte) { panic("compress/flate has no ResetDict") }

// stdlib is Go's compress/flate. Its writers always use a 32 KiB window,
// and it cannot restart a writer with a preset window (NewWriterDict
// allocates a new writer, and ignores the dictionary at level 1), so
// context takeover keeps a whole writer per connection.
var stdlib = &engine{
	name: "compress/flate",
	newWriter: func(level, bits int) (flateWriter, error) {
		if bits < MaxWindowBits {
			return nil, errors.New("compress/flate always uses a 32 KiB window")
		}
		w, err := stdflate.NewWriter(nil, level)
		return stdWriter{w}, err
	},
	newReader: func(r io.Reader) flateReader { return stdflate.NewReader(r).(flateReader) },
}

type variant struct {
	name string
	cfg  Config // takeover; NoContextTakeover is set per row
}

// "keep": the connection holds its writer between messages (the only way
// compress/flate can take over context); "ctx N": a pooled writer primed
// with the last N bytes sent (klauspost's ResetDict), the connection holds
// only those bytes. Without takeover every variant uses a pooled writer.
var variants = []variant{
	{"std L1 keep", Config{Level: 1, engine: stdlib}},
	{"std L6 keep", Config{Level: 6, engine: stdlib}},
	{"kp L1 keep", Config{Level: 1, keep: true}},
	{"kp L1 ctx 32K", Config{Level: 1, Context: 32 << 10}},
	{"kp L1 ctx 4K", Config{Level: 1, Context: 4 << 10}},
	{"kp L1 ctx 1K", Config{Level: 1, Context: 1 << 10}},
	{"kp L5 ctx 4K", Config{Level: 5, Context: 4 << 10}},
}

type corpus struct {
	name string
	msgs [][]byte
	raw  int64
}

func corpora() []corpus {
	cs := []corpus{{name: "small JSON", msgs: smallJSON(1000)}, {name: "256 KiB doc", msgs: [][]byte{largeDoc(256 << 10)}}}
	for i := range cs {
		for _, m := range cs[i].msgs {
			cs[i].raw += int64(len(m))
		}
	}
	return cs
}

// compressAll runs the corpus through c, as one connection sends it.
func compressAll(tb testing.TB, c *Compressor, msgs [][]byte, out [][]byte) (wire int64) {
	var buf []byte
	for i, m := range msgs {
		z, err := c.Compress(buf[:0], m)
		if err != nil {
			tb.Fatal(err)
		}
		buf = z
		wire += int64(len(z))
		if out != nil {
			out[i] = append([]byte(nil), z...)
		}
	}
	return wire
}

func benchCompress(b *testing.B, cfg Config, cs corpus) {
	c, err := NewCompressor(cfg)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(cs.raw)
	b.ReportAllocs()
	var wire int64
	for b.Loop() {
		wire = compressAll(b, c, cs.msgs, nil)
	}
	b.ReportMetric(float64(wire)/float64(cs.raw), "wire/raw")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs.msgs)), "ns/msg")
}

func benchInflate(b *testing.B, cfg Config, cs corpus) {
	c, err := NewCompressor(cfg)
	if err != nil {
		b.Skip(err)
	}
	zs := make([][]byte, len(cs.msgs))
	compressAll(b, c, cs.msgs, zs)
	b.SetBytes(cs.raw)
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		d, err := NewDecompressor(cfg, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		for _, z := range zs {
			if out, err = d.Write(out[:0], z); err == nil {
				out, err = d.Finish(out)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs.msgs)), "ns/msg")
}

func rows(f func(name string, cfg Config, cs corpus)) {
	for _, cs := range corpora() {
		for _, takeover := range []bool{true, false} {
			for _, v := range variants {
				cfg := v.cfg
				cfg.NoContextTakeover = !takeover
				if !takeover && (v.cfg.keep || v.cfg.Context != 0 && v.cfg.Context != DefaultContext) {
					continue // without takeover these are the same as another row
				}
				mode := "takeover"
				if !takeover {
					mode = "no takeover"
				}
				f(fmt.Sprintf("%s/%s/%s", cs.name, mode, v.name), cfg, cs)
			}
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	rows(func(name string, cfg Config, cs corpus) {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) { benchCompress(b, cfg, cs) })
	})
}

func BenchmarkInflate(b *testing.B) {
	rows(func(name string, cfg Config, cs corpus) {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) { benchInflate(b, cfg, cs) })
	})
}

// idleBytes is the heap each of n connections holds between messages after
// each sent and received 8 messages of about 5.5 KiB (400 small JSON
// messages joined in 8: 45 KiB, enough to fill a 32 KiB window) with cfg
// in both directions.
func idleBytes(tb testing.TB, cfg Config, n int) float64 {
	small := smallJSON(400)
	var msgs [][]byte
	for i := 0; i < len(small); i += 50 {
		msgs = append(msgs, bytes.Join(small[i:i+50], nil))
	}
	zs := make([][]byte, len(msgs))
	type conn struct {
		c *Compressor
		d *Decompressor
	}
	conns := make([]conn, n)
	gc := func() uint64 {
		var ms runtime.MemStats
		for range 3 { // sync.Pool keeps its victims for one more cycle
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := gc()
	for i := range conns {
		c, err := NewCompressor(cfg)
		if err != nil {
			tb.Skip(err)
		}
		d, err := NewDecompressor(cfg, 1<<20)
		if err != nil {
			tb.Fatal(err)
		}
		conns[i] = conn{c, d}
		compressAll(tb, c, msgs, zs)
		var out []byte
		for _, z := range zs {
			if out, err = d.Write(out[:0], z); err == nil {
				out, err = d.Finish(out)
			}
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
	after := gc()
	runtime.KeepAlive(conns)
	return (float64(after) - float64(before)) / float64(n)
}

func BenchmarkIdleMemory(b *testing.B) {
	for _, v := range variants {
		for _, takeover := range []bool{true, false} {
			cfg := v.cfg
			cfg.NoContextTakeover = !takeover
			b.Run(fmt.Sprintf("%s/takeover=%v", strings.ReplaceAll(v.name, " ", "_"), takeover), func(b *testing.B) {
				n := 2000
				if cfg.keep || cfg.engine == stdlib && takeover {
					n = 200 // a whole writer each: 200 are enough to see it
				}
				var per float64
				for b.Loop() {
					per = idleBytes(b, cfg, n)
				}
				b.ReportMetric(per, "B/conn")
			})
		}
	}
}

// TestCompareTable prints the comparison. It takes about a minute, so it
// runs only when asked: DEFLATE_COMPARE=1.
func TestCompareTable(t *testing.T) {
	if os.Getenv("DEFLATE_COMPARE") == "" {
		t.Skip("DEFLATE_COMPARE=1 prints the compress/flate vs klauspost table")
	}
	base := map[string]float64{}
	fmt.Printf("| corpus | context | variant | compress MB/s | × std L1 | ns/msg | allocs/op | wire/raw | inflate MB/s | × std L1 | allocs/op |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	rows(func(name string, cfg Config, cs corpus) {
		rc := testing.Benchmark(func(b *testing.B) { benchCompress(b, cfg, cs) })
		ri := testing.Benchmark(func(b *testing.B) { benchInflate(b, cfg, cs) })
		cmbs := float64(rc.Bytes) * float64(rc.N) / rc.T.Seconds() / 1e6
		imbs := float64(ri.Bytes) * float64(ri.N) / ri.T.Seconds() / 1e6
		key := name[:strings.LastIndexByte(name, '/')]
		if strings.HasSuffix(name, "std L1 keep") {
			base[key+"c"], base[key+"i"] = cmbs, imbs
		}
		p := strings.Split(name, "/")
		fmt.Printf("| %s | %s | %s | %.1f | %.2f | %.0f | %d | %.3f | %.1f | %.2f | %d |\n",
			p[0], p[1], p[2], cmbs, cmbs/base[key+"c"], rc.Extra["ns/msg"], rc.AllocsPerOp(), rc.Extra["wire/raw"],
			imbs, imbs/base[key+"i"], ri.AllocsPerOp())
	})
	fmt.Printf("\n| variant | context | heap per idle connection (both directions) |\n|---|---|---|\n")
	for _, v := range variants {
		for _, takeover := range []bool{true, false} {
			cfg := v.cfg
			cfg.NoContextTakeover = !takeover
			n := 2000
			if cfg.keep || cfg.engine == stdlib && takeover {
				n = 200
			}
			fmt.Printf("| %s | takeover=%v | %.1f KiB (%d connections) |\n", v.name, takeover, idleBytes(t, cfg, n)/1024, n)
		}
	}
	thresholdTable(t)
}

// thresholdTable: for the chosen implementation, what compression saves on
// the wire and costs in time per message, by message size. Wire bytes
// include the frame header (2 bytes below 126, 4 up to 64 KiB).
func thresholdTable(t *testing.T) {
	msgs := smallJSON(20000)
	buckets := []int{32, 64, 96, 128, 192, 256, 384, 512, 1024}
	bucket := func(n int) int {
		return sort.SearchInts(buckets, n)
	}
	hdr := func(n int) int {
		if n < 126 {
			return 2
		}
		return 4
	}
	fmt.Printf("\n| context | message size | messages | raw wire | compressed wire | saving | compress ns/msg | inflate ns/msg |\n|---|---|---|---|---|---|---|---|\n")
	for _, takeover := range []bool{true, false} {
		cfg := Config{NoContextTakeover: !takeover}
		c, _ := NewCompressor(cfg)
		d, _ := NewDecompressor(cfg, 1<<20)
		type acc struct {
			n, raw, wire int
			tc, ti       time.Duration
		}
		accs := make([]acc, len(buckets)+1)
		var z, out []byte
		var err error
		for _, m := range msgs {
			t0 := time.Now()
			z, err = c.Compress(z[:0], m)
			t1 := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if out, err = d.Write(out[:0], z); err == nil {
				out, err = d.Finish(out)
			}
			t2 := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			a := &accs[bucket(len(m))]
			a.n++
			a.raw += len(m) + hdr(len(m))
			a.wire += len(z) + hdr(len(z))
			a.tc += t1.Sub(t0)
			a.ti += t2.Sub(t1)
		}
		for i, a := range accs {
			if a.n == 0 {
				continue
			}
			lo := 0
			if i > 0 {
				lo = buckets[i-1] + 1
			}
			hi := "∞"
			if i < len(buckets) {
				hi = fmt.Sprint(buckets[i])
			}
			fmt.Printf("| takeover=%v | %d–%s B | %d | %d | %d | %.0f %% | %d | %d |\n", takeover, lo, hi, a.n, a.raw, a.wire,
				100*(1-float64(a.wire)/float64(a.raw)), a.tc.Nanoseconds()/int64(a.n), a.ti.Nanoseconds()/int64(a.n))
		}
	}
}
