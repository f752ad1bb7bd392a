// Package proptest holds wsfsm's property suite (github.com/leanovate/gopter)
// and fuzz targets, organised by subject: frames, utf8, close, handshake and
// session. Shared generators live in gens.go. Two oracles share no code with
// what they check: reference.go, a frame decoder (and encoder) written
// straight from RFC 6455 §5.2, which names the rule each violation breaks;
// and session_model_test.go, a model of what a wsconn.Session must do
// (events, error rule, close code and offset, frames sent) written from
// §5.4, §5.5, §7 and §8.1 on top of the reference decoder.
//
// Two properties also assert what their generators reached:
// TestFrameProperties requires every state of both frame machines, error
// states included, in a share of its parses, and TestSessionProperties
// requires every session rule and complete messages of both kinds in a
// share of its scripts (both judged from PROPTEST_N=500).
//
// Every property prints its seed; replay a failure with
//
//	PROPTEST_SEED=<seed> go test ./proptest -run <TestName>
//
// PROPTEST_N sets the number of cases per property (default 1000).
//
// The fuzz targets (FuzzParser, FuzzUTF8) start from testdata/fuzz and the
// RFC's examples:
//
//	go test ./proptest -run '^$' -fuzz FuzzParser -fuzztime 10m
package proptest
