package deflate

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The measurement corpus, generated deterministically (a fixed PCG seed):
// the small JSON messages a chat or trading front end sends over one
// connection (chat lines, presence changes, price ticks, in a realistic mix
// and order), and one larger JSON document (a catalogue export, ~256 KiB).

var (
	words = strings.Fields(`the a to and of in is it you that for on was with
		he as I his they be at one have this from or had by hot word but what
		some we can out other were all there when up use your how said an each
		she which do their time if will way about many then them write would
		like so these her long make thing see him two has look more day could
		go come did number sound no most people my over know water than call
		first who may down side been now find any new work part take get place
		made live where after back little only round man year came show every
		good me give our under name very through just form sentence great think
		ok lol thanks meeting tomorrow deploy release build broken fixed ship`)
	names   = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda"}
	rooms   = []string{"general", "random", "dev", "ops", "support", "sales"}
	symbols = []string{"ACME", "GLOBX", "INITECH", "UMBRL", "HOOLI", "STARK", "WAYNE", "TYRELL", "CYBER", "OSCORP"}
	states  = []string{"online", "away", "busy", "offline"}
)

func sentence(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// smallJSON returns n messages: 45 % price ticks, 30 % chat, 15 %
// presence, 10 % acknowledgements.
func smallJSON(n int) [][]byte {
	r := rand.New(rand.NewPCG(7692, 6455))
	price := map[string]float64{}
	for i, s := range symbols {
		price[s] = 50 + 17*float64(i)
	}
	ts := int64(1_700_000_000_000)
	seq := 0
	out := make([][]byte, 0, n)
	for range n {
		ts += int64(r.IntN(250))
		seq++
		var m string
		switch x := r.IntN(20); {
		case x < 2:
			m = fmt.Sprintf(`{"type":"ack","id":"m%08d"}`, seq-1-r.IntN(5))
		case x < 11:
			s := symbols[r.IntN(len(symbols))]
			price[s] *= 1 + (r.Float64()-0.5)/500
			bid := price[s]
			m = fmt.Sprintf(`{"type":"tick","symbol":%q,"bid":%.2f,"ask":%.2f,"bidSize":%d,"askSize":%d,"ts":%d,"seq":%d}`,
				s, bid, bid+0.01*float64(1+r.IntN(5)), 100*(1+r.IntN(50)), 100*(1+r.IntN(50)), ts, seq)
		case x < 17:
			text := sentence(r, 2+r.IntN(r.IntN(40)+1))
			m = fmt.Sprintf(`{"type":"chat","room":%q,"from":%q,"id":"m%08d","text":%q,"ts":%d}`,
				rooms[r.IntN(len(rooms))], names[r.IntN(len(names))], seq, text, ts)
		default:
			m = fmt.Sprintf(`{"type":"presence","user":%q,"status":%q,"room":%q,"ts":%d}`,
				names[r.IntN(len(names))], states[r.IntN(len(states))], rooms[r.IntN(len(rooms))], ts)
		}
		out = append(out, []byte(m))
	}
	return out
}

// largeDoc is a JSON catalogue of about size bytes.
func largeDoc(size int) []byte {
	r := rand.New(rand.NewPCG(1951, 7692))
	var b strings.Builder
	b.WriteString(`{"catalogue":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"sku":"SKU-%06d","name":%q,"description":%q,"price":%.2f,"stock":%d,"tags":[%q,%q],"supplier":{"name":%q,"country":%q}}`,
			i, r.IntN(1_000_000), sentence(r, 3), sentence(r, 10+r.IntN(30)), r.Float64()*500, r.IntN(1000),
			words[r.IntN(len(words))], words[r.IntN(len(words))], names[r.IntN(len(names))], []string{"DE", "FR", "US", "JP", "BR"}[r.IntN(5)])
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
