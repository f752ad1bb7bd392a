package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/wsfsm/wsfsm/wsframe"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var b []byte
	for _, f := range bytes.Fields([]byte(s)) {
		var v byte
		if _, err := fmt.Sscanf(string(f), "%02x", &v); err != nil {
			t.Fatal(err)
		}
		b = append(b, v)
	}
	return b
}

func mustDecompressor(t testing.TB, cfg Config, limit int64) *Decompressor {
	t.Helper()
	d, err := NewDecompressor(cfg, limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Abort)
	return d
}

func mustCompressor(t testing.TB, cfg Config) *Compressor {
	t.Helper()
	c, err := NewCompressor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inflateSplit inflates one message whose compressed bytes arrive in the
// given piece sizes (cycled).
func inflateSplit(d *Decompressor, msg []byte, sizes []int) ([]byte, error) {
	var out []byte
	var err error
	for i := 0; len(msg) > 0; i++ {
		n := len(msg)
		if len(sizes) > 0 {
			n = min(max(sizes[i%len(sizes)], 1), len(msg))
		}
		if out, err = d.Write(out, msg[:n]); err != nil {
			return out, err
		}
		msg = msg[n:]
	}
	return d.Finish(out)
}

// RFC 7692 §7.2.3: the examples, byte for byte.
func TestRFCExamples(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      Config
		messages []string
	}{
		{"7.2.3.1 one message", Config{NoContextTakeover: true}, []string{"f2 48 cd c9 c9 07 00"}},
		{"7.2.3.2 context takeover", Config{}, []string{"f2 48 cd c9 c9 07 00", "f2 00 11 00 00"}},
		{"7.2.3.3 no compression", Config{}, []string{"00 05 00 fa ff 48 65 6c 6c 6f 00"}},
		{"7.2.3.4 BFINAL set", Config{}, []string{"f3 48 cd c9 c9 07 00 00"}},
		// What follows a final block is not read (zlib's behaviour).
		{"after BFINAL", Config{}, []string{"f3 48 cd c9 c9 07 00 00 12 34 56"}},
		{"7.2.3.5 two blocks", Config{}, []string{"f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}},
	} {
		for _, sizes := range [][]int{nil, {1}, {2, 5}} {
			d := mustDecompressor(t, c.cfg, 1<<20)
			for i, m := range c.messages {
				got, err := inflateSplit(d, unhex(t, m), sizes)
				if err != nil || string(got) != "Hello" {
					t.Errorf("%s, message %d, pieces %v: %q %v", c.name, i, sizes, got, err)
				}
			}
		}
	}
	// And the compressor's own first message is a valid compression of
	// "Hello" that ends without the tail.
	c := mustCompressor(t, Config{})
	d := mustDecompressor(t, Config{}, 100)
	for range 3 {
		z, err := c.Compress(nil, []byte("Hello"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasSuffix(z, tail[:]) {
			t.Errorf("%x ends with the tail", z)
		}
		if got, err := inflateSplit(d, z, nil); err != nil || string(got) != "Hello" {
			t.Errorf("%q %v", got, err)
		}
	}
}

// An empty message compresses to one byte (an empty stored block whose
// tail is removed) and inflates to nothing. An empty payload is not a
// compressed message: payload + 00 00 ff ff is not DEFLATE data (zlib
// would read the tail as the start of a stored block).
func TestEmpty(t *testing.T) {
	c := mustCompressor(t, Config{})
	z, err := c.Compress(nil, nil)
	if err != nil || len(z) == 0 || len(z) > 2 {
		t.Fatalf("%x %v", z, err)
	}
	for _, p := range [][]byte{z, {0x00}} {
		d := mustDecompressor(t, Config{}, 0)
		if got, err := inflateSplit(d, p, nil); err != nil || len(got) != 0 {
			t.Errorf("%x: %q %v", p, got, err)
		}
	}
	d := mustDecompressor(t, Config{}, 0)
	if _, err := inflateSplit(d, nil, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty payload: %v", err)
	}
}

// Context takeover: the second of two equal messages refers to the first,
// and a decompressor without the first cannot inflate it.
func TestContextTakeover(t *testing.T) {
	msg := []byte(`{"type":"price","symbol":"ACME","bid":101.25,"ask":101.27,"ts":1700000000123}`)
	for _, noCtx := range []bool{false, true} {
		c := mustCompressor(t, Config{NoContextTakeover: noCtx})
		first, _ := c.Compress(nil, msg)
		second, _ := c.Compress(nil, msg)
		if noCtx != bytes.Equal(first, second) {
			t.Errorf("no takeover %v: first %x second %x", noCtx, first, second)
		}
		if !noCtx && len(second) >= len(first)/2 {
			t.Errorf("takeover: the second message is %d bytes, the first %d", len(second), len(first))
		}
		d := mustDecompressor(t, Config{NoContextTakeover: noCtx}, 1<<10)
		for _, z := range [][]byte{first, second} {
			if got, err := inflateSplit(d, z, []int{3}); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("no takeover %v: %q %v", noCtx, got, err)
			}
		}
		if !noCtx {
			fresh := mustDecompressor(t, Config{}, 1<<10)
			if _, err := inflateSplit(fresh, second, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("second message without the first: %v, want ErrCorrupt", err)
			}
		}
	}
}

// Window bits: with a window of 2^N the compressor never refers further
// back than 2^N bytes: a random block repeated after a gap of exactly the
// window (a repeated pattern, so the block stays in the encoder's table) is
// not found again, while a 32 KiB window finds it.
func TestWindowBitsHonoured(t *testing.T) {
	block := make([]byte, 200)
	rand.Read(block)
	for bits := MinWindowBits; bits <= MaxWindowBits; bits++ {
		gap := bytes.Repeat([]byte("0123456789abcdef"), (1<<bits)/16)
		msg := append(append(append([]byte{}, block...), gap...), block...)
		c := mustCompressor(t, Config{WindowBits: bits, NoContextTakeover: true})
		z, err := c.Compress(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		wide := mustCompressor(t, Config{NoContextTakeover: true})
		zw, _ := wide.Compress(nil, msg)
		if bits < MaxWindowBits && len(z)-len(zw) < len(block)/2 {
			t.Errorf("bits %d: %d bytes with the window, %d with 32 KiB: the block was found again", bits, len(z), len(zw))
		}
		// Across messages too: the window is what the decompressor keeps.
		c = mustCompressor(t, Config{WindowBits: bits})
		d := mustDecompressor(t, Config{WindowBits: bits}, 1<<20)
		for _, m := range [][]byte{block, gap, block} {
			z, err := c.Compress(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := inflateSplit(d, z, []int{7}); err != nil || !bytes.Equal(got, m) {
				t.Fatalf("bits %d: %v", bits, err)
			}
		}
	}
	if _, err := NewCompressor(Config{WindowBits: 7}); err == nil {
		t.Error("window bits 7 accepted")
	}
	if _, err := NewDecompressor(Config{WindowBits: 16}, 1); err == nil {
		t.Error("window bits 16 accepted")
	}
}

// A decompressor with window N refuses a reference further back than 2^N
// into the previous message (the peer broke its promise): 1007, not wrong
// output.
func TestWindowBitsEnforcedOnInflate(t *testing.T) {
	block := make([]byte, 300)
	rand.Read(block)
	c := mustCompressor(t, Config{}) // a 32 KiB window
	d := mustDecompressor(t, Config{WindowBits: 8}, 1<<20)
	z1, _ := c.Compress(nil, block)
	z2, _ := c.Compress(nil, block) // refers 300 bytes back
	if _, err := inflateSplit(d, z1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := inflateSplit(d, z2, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reference past a 256-byte window: %v", err)
	}
}

// zeroBomb is n zero bytes (a multiple of 1 MiB, at least 2 MiB)
// compressed as one message: the first MiB compressed and flushed, then the
// second MiB's compressed bytes repeated (they only refer to zeros within
// the window, so they mean 1 MiB of zeros wherever they follow zeros).
func zeroBomb(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	w.Write(zeros)
	w.Flush()
	first := buf.Len()
	w.Write(zeros)
	w.Flush()
	bomb := append([]byte(nil), buf.Bytes()...)
	for range n>>20 - 2 {
		bomb = append(bomb, buf.Bytes()[first:]...)
	}
	return bytes.TrimSuffix(bomb, tail[:])
}

// The bomb is what it says: 1 GiB of zeros, checked on 64 MiB of it.
func TestZeroBomb(t *testing.T) {
	z := zeroBomb(t, 64<<20)
	got, err := io.ReadAll(stdflate.NewReader(bytes.NewReader(append(append(z, tail[:]...), finalBlock[:]...))))
	if err != nil || len(got) != 64<<20 || bytes.Count(got, []byte{0}) != len(got) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
}

// The limit holds for the decompressed size: a 1 GiB run of zeros (about
// 1 MB compressed) is refused with 1009 after at most limit+1 bytes of
// output, in one piece or many, and the heap does not grow with it.
func TestBombRefused(t *testing.T) {
	bomb := zeroBomb(t, 1<<30)
	t.Logf("1 GiB of zeros: %d bytes compressed", len(bomb))
	const limit = 1 << 20
	for _, sizes := range [][]int{nil, {4096}, {1000, 1, 77777}} {
		d := mustDecompressor(t, Config{}, limit)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out := make([]byte, 0, 64)
		var err error
		rest := bomb
		for i := 0; len(rest) > 0 && err == nil; i++ {
			n := len(rest)
			if sizes != nil {
				n = min(sizes[i%len(sizes)], len(rest))
			}
			out, err = d.Write(out, rest[:n])
			rest = rest[n:]
		}
		if err == nil {
			out, err = d.Finish(out)
		}
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooBig) {
			t.Fatalf("pieces %v: %v, want ErrTooBig", sizes, err)
		}
		if code, _ := CodeOf(err); code != 1009 {
			t.Errorf("code %d", code)
		}
		if code, _ := wsframe.CodeOf(err); code != 1009 {
			t.Errorf("wsframe.CodeOf %d", code)
		}
		if len(out) > limit {
			t.Errorf("pieces %v: %d bytes delivered past a limit of %d", sizes, len(out), limit)
		}
		// Inflated bytes allocated: the output (≤ limit, doubling) and the
		// pooled reader; far from the 1 GiB the bomb holds.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8*limit {
			t.Errorf("pieces %v: %d bytes allocated", sizes, grew)
		}
		if len(rest) > 0 && sizes != nil && len(bomb)-len(rest) > len(bomb)/2 {
			t.Errorf("pieces %v: refused only after %d of %d compressed bytes", sizes, len(bomb)-len(rest), len(bomb))
		}
	}
}

// The limit is exact: a message of exactly limit bytes passes, one more
// byte fails, for every limit around a message's size and any split.
func TestLimitExact(t *testing.T) {
	msg := bytes.Repeat([]byte("abcdefgh"), 3000)
	c := mustCompressor(t, Config{NoContextTakeover: true})
	z, _ := c.Compress(nil, msg)
	for _, limit := range []int64{0, 1, int64(len(msg)) - 1, int64(len(msg)), int64(len(msg)) + 1} {
		for _, sizes := range [][]int{nil, {1}, {100}} {
			d := mustDecompressor(t, Config{NoContextTakeover: true}, limit)
			got, err := inflateSplit(d, z, sizes)
			if limit >= int64(len(msg)) {
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("limit %d: %v", limit, err)
				}
			} else if !errors.Is(err, ErrTooBig) || int64(len(got)) > limit {
				t.Errorf("limit %d pieces %v: %d bytes, %v", limit, sizes, len(got), err)
			}
		}
	}
}

// Corrupt data is ErrCorrupt with 1007, in any split; so is data after a
// final block and a message cut in the middle of a block.
func TestCorrupt(t *testing.T) {
	c := mustCompressor(t, Config{NoContextTakeover: true})
	good, _ := c.Compress(nil, bytes.Repeat([]byte("hello, world "), 50))
	for _, bad := range []struct {
		name string
		z    []byte
	}{
		{"reserved block type", unhex(t, "07 00")},
		{"stored length mismatch", unhex(t, "00 05 00 00 00 48 65 6c 6c 6f")},
		{"distance too far", withDict(t, "hello world, ", "hello world, hello world")},
		{"truncated after BFINAL's stored header", unhex(t, "01 05 00")},
		{"cut", good[:len(good)/2]},
	} {
		for _, sizes := range [][]int{nil, {1}, {3}} {
			d := mustDecompressor(t, Config{}, 1<<20)
			_, err := inflateSplit(d, bad.z, sizes)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s, pieces %v: %v, want ErrCorrupt", bad.name, sizes, err)
			}
			if code, _ := CodeOf(err); code != 1007 {
				t.Errorf("%s: code %d", bad.name, code)
			}
			// Errors are sticky.
			if _, err2 := d.Write(nil, good); err2 != err {
				t.Errorf("%s: after the error, %v", bad.name, err2)
			}
		}
	}
}

// withDict compresses msg as if dict had been sent before.
func withDict(t testing.TB, dict, msg string) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriterDict(&buf, 5, []byte(dict))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), tail[:])
}

// Long messages inflate while their bytes arrive (the coroutine path):
// output appears before Finish, and abandoning the message frees it.
func TestStreaming(t *testing.T) {
	msg := make([]byte, 1<<20)
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range msg {
		msg[i] = "abcdefghij"[r.IntN(10)]
	}
	c := mustCompressor(t, Config{})
	z, _ := c.Compress(nil, msg)
	d := mustDecompressor(t, Config{}, 2<<20)
	out, err := d.Write(nil, z[:len(z)/2])
	if err != nil || len(out) < len(msg)/4 || !bytes.Equal(out, msg[:len(out)]) {
		t.Fatalf("half the input gave %d bytes, %v", len(out), err)
	}
	out, err = d.Write(out, z[len(z)/2:])
	if err == nil {
		out, err = d.Finish(out)
	}
	if err != nil || !bytes.Equal(out, msg) {
		t.Fatalf("%d bytes, %v", len(out), err)
	}
	// Abandon a message halfway: the coroutine ends.
	g := runtime.NumGoroutine()
	d2 := mustDecompressor(t, Config{}, 2<<20)
	if _, err := d2.Write(nil, z[:len(z)/2]); err != nil {
		t.Fatal(err)
	}
	d2.Abort()
	if _, err := d2.Write(nil, z); err == nil {
		t.Error("write after Abort succeeded")
	}
	for range 100 {
		if runtime.NumGoroutine() <= g {
			break
		}
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > g {
		t.Errorf("%d goroutines after Abort, %d before", n, g)
	}
}

// The caller's dst is only appended to: bytes before its length are kept,
// and a message's output does not depend on what dst held.
func TestAppendsToDst(t *testing.T) {
	c := mustCompressor(t, Config{NoContextTakeover: true})
	z, _ := c.Compress([]byte("prefix"), []byte("payload"))
	if string(z[:6]) != "prefix" {
		t.Fatalf("%q", z)
	}
	d := mustDecompressor(t, Config{}, 100)
	out, err := d.Write([]byte("head:"), z[6:])
	if err == nil {
		out, err = d.Finish(out)
	}
	if err != nil || string(out) != "head:payload" {
		t.Fatalf("%q %v", out, err)
	}
}
