// Package proptest holds wsfsm's property suite (github.com/leanovate/gopter)
// and fuzz targets, organised by subject: frames, utf8, close, and later
// handshake and session. Shared generators live in gens.go; reference.go is
// the oracle, a frame decoder written straight from RFC 6455 §5.2 that
// shares no code with the generated parser.
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
