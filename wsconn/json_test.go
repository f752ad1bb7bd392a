package wsconn_test

import (
	"strings"
	"testing"

	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// JSON values round-trip through an echo server as text messages; a
// message that is not one JSON value is an error that leaves the
// connection readable.
func TestJSONMessages(t *testing.T) {
	type tick struct {
		Symbol string            `json:"symbol"`
		Price  float64           `json:"price"`
		Tags   map[string]string `json:"tags"`
		Note   string            `json:"note"`
	}
	s := startServer(t, server.Options{})
	c := dial(t, s.url, nil)
	want := tick{Symbol: "ACME", Price: 101.25, Tags: map[string]string{"venue": "X"}, Note: "<b>&" + strings.Repeat("é", 3000)}
	if err := wsconn.WriteJSON(c, want); err != nil {
		t.Fatal(err)
	}
	var got tick
	if err := wsconn.ReadJSON(c, &got); err != nil || got.Symbol != want.Symbol || got.Price != want.Price || got.Tags["venue"] != "X" || got.Note != want.Note {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []struct {
		op   wsframe.Opcode
		data string
	}{{wsframe.OpBinary, `{"symbol":"B"}`}, {wsframe.OpText, `{"symbol":`}, {wsframe.OpText, `{"symbol":"A"} {"symbol":"B"}`}} {
		if err := c.WriteMessage(bad.op, []byte(bad.data)); err != nil {
			t.Fatal(err)
		}
		if err := wsconn.ReadJSON(c, &got); err == nil {
			t.Errorf("%s %q read as JSON", bad.op, bad.data)
		}
	}
	if err := wsconn.WriteJSON(c, tick{Symbol: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := wsconn.ReadJSON(c, &got); err != nil || got.Symbol != "after" {
		t.Fatalf("after the bad messages: %+v %v", got, err)
	}
}
