// Package deflatebench compares permessage-deflate (RFC 7692) in wsfsm with
// gorilla/websocket, coder/websocket and gws: the same corpus echoed, sent
// and received by a server and a client of each library over loopback TCP,
// compression on. See bench_test.go for the benchmarks and RESULTS.md for a
// run.
package deflatebench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Seeds of the corpus: changing them changes every number in RESULTS.md.
const (
	smallSeed = 0x5eed_0001
	docSeed   = 0x5eed_0002
)

// SmallCount is the number of messages in the small corpus.
const SmallCount = 1000

var (
	users   = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda"}
	rooms   = []string{"general", "random", "support", "trading-desk", "dev-backend", "dev-frontend", "announcements", "off-topic"}
	status  = []string{"online", "away", "busy", "offline"}
	devices = []string{"web", "ios", "android", "desktop"}
	symbols = []string{"BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD", "GBP-USD", "USD-JPY", "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOG"}
	words   = []string{"the", "a", "to", "and", "is", "it", "that", "for", "on", "with", "deploy", "build", "test", "release", "merge", "review", "please", "thanks", "lunch", "meeting", "today", "tomorrow", "server", "latency", "ticket", "bug", "fixed", "looks", "good", "me", "we", "should", "can", "you", "check", "logs", "again", "after", "before", "price", "market", "order", "filled", "cancel", "ok", "sure", "why", "not", "yes", "no", "I", "think", "so", "maybe", "later", "done", "working", "on", "it", "now"}
	nouns   = []string{"lamp", "chair", "table", "kettle", "backpack", "jacket", "monitor", "keyboard", "headphones", "bottle", "notebook", "pen", "camera", "speaker", "charger", "blanket", "mug", "shelf", "rug", "clock"}
	adjs    = []string{"compact", "durable", "lightweight", "ergonomic", "wireless", "vintage", "modern", "eco-friendly", "premium", "foldable", "waterproof", "adjustable", "portable", "classic", "smart"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func sentence(r *rand.Rand, b []byte, n int) []byte {
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, pick(r, words)...)
	}
	return b
}

// Small returns the small-message corpus: SmallCount JSON messages of a chat
// and trading application, 45 % price ticks, 30 % chat, 15 % presence, 10 %
// acks, generated from a fixed seed (the same bytes on every call and
// machine).
func Small() [][]byte {
	r := rand.New(rand.NewPCG(smallSeed, smallSeed>>3))
	msgs := make([][]byte, 0, SmallCount)
	ts := int64(1732752000000)
	price := make(map[string]float64, len(symbols))
	for i, s := range symbols {
		price[s] = 10 + float64(i*i)*37.5
	}
	for i := range SmallCount {
		ts += int64(r.IntN(250))
		var b []byte
		switch k := r.IntN(100); {
		case k < 45:
			s := pick(r, symbols)
			p := price[s] * (1 + (r.Float64()-0.5)/500)
			price[s] = p
			spread := p * 0.0004
			b = fmt.Appendf(nil, `{"type":"tick","sym":%q,"bid":%.4f,"ask":%.4f,"last":%.4f,"vol":%d,"seq":%d,"ts":%d}`,
				s, p-spread, p+spread, p, r.IntN(5_000_000), 100000+i, ts)
		case k < 75:
			b = fmt.Appendf(nil, `{"type":"chat","id":"m-%06d","room":%q,"user":"%s%d","ts":%d,"text":"`,
				i, pick(r, rooms), pick(r, users), r.IntN(100), ts)
			b = sentence(r, b, 3+r.IntN(40))
			b = append(b, `"`...)
			if r.IntN(4) == 0 {
				b = fmt.Appendf(b, `,"reply_to":"m-%06d"`, r.IntN(i+1))
			}
			b = append(b, '}')
		case k < 90:
			b = fmt.Appendf(nil, `{"type":"presence","user":"%s%d","status":%q,"device":%q,"last_seen":%d,"rooms":[`,
				pick(r, users), r.IntN(100), pick(r, status), pick(r, devices), ts-int64(r.IntN(600000)))
			for j := range 1 + r.IntN(4) {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, pick(r, rooms))
			}
			b = append(b, "]}"...)
		default:
			b = fmt.Appendf(nil, `{"type":"ack","id":"m-%06d"}`, r.IntN(i+1))
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// DocCount documents of about DocSize bytes each make the large corpus.
const (
	DocCount = 4
	DocSize  = 256 << 10
)

// Docs returns DocCount JSON product catalogues of about DocSize bytes each
// (different content, same shape), generated from a fixed seed.
func Docs() [][]byte {
	r := rand.New(rand.NewPCG(docSeed, docSeed>>3))
	docs := make([][]byte, DocCount)
	for d := range docs {
		b := append(make([]byte, 0, DocSize+4096), `{"catalogue":"spring-`...)
		b = strconv.AppendInt(b, int64(d), 10)
		b = append(b, `","items":[`...)
		for i := 0; len(b) < DocSize; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"sku":"SKU-%d-%05d","name":"%s %s","price":%.2f,"stock":%d,"rating":%.1f,"tags":[%q,%q],"description":"`,
				d, i, pick(r, adjs), pick(r, nouns), 5+r.Float64()*500, r.IntN(1000), 1+r.Float64()*4, pick(r, adjs), pick(r, nouns))
			b = sentence(r, b, 10+r.IntN(30))
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
		docs[d] = b
	}
	return docs
}
