// Package interop tests wsfsm against independent implementations:
// gorilla/websocket and coder/websocket clients against wsfsm's server, and
// wsfsm's client against their servers. It is a module of its own so that
// the main module depends on none of them.
package interop
