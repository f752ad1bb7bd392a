// Package introspect shows the repository's own tests what the public API
// keeps private: the state a generated machine is in. The packages that own
// the machines set these variables in their init functions; nothing outside
// this module can import it.
package introspect

var (
	// FrameState names the state of a *wsframe.Parser, e.g.
	// "ServerFrame.ReadLen16Hi".
	FrameState func(parser any) string
	// FrameStates lists every state of both frame machines.
	FrameStates []string
	// HeadState names the state of a *handshake.HeadReader.
	HeadState func(reader any) string
)
