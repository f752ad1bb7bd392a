// Command wsc is a WebSocket client and server for trying, scripting and
// debugging endpoints, in the spirit of wscat and websocat, with a view of
// the wire that the generated parser makes precise: -v prints the
// handshake's heads, -vv every frame (direction, offset, FIN, RSV, opcode,
// mask, length, close code) and the first rule a peer breaks, with the
// byte that proved it and the close code it calls for.
//
//	wsc ws://127.0.0.1:9001/                 # a prompt on a terminal
//	printf 'hello\nworld\n' | wsc ws://127.0.0.1:9001/
//	wsc -l 127.0.0.1:9002                    # print what clients send
//	wsc -l 127.0.0.1:9002 --exec 'tr a-z A-Z' --pty
//
// In a pipe, each line of stdin is a message (-b binary, -0 NUL-separated,
// --raw all of stdin as one) and each message received is a line of
// stdout; at the end of stdin the client closes with 1000, prints what
// still arrives until the close handshake ends, and exits 0. It exits 1
// when the handshake is refused (with the HTTP status and the first line
// of the body), when the connection breaks, or when the peer closes with a
// code other than 1000 or 1001 (printed). wsc -h lists the options. The
// client dials through the HTTP proxy that HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY name (a CONNECT tunnel), as wsfsm's Dial does.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	log := &logger{w: os.Stderr}
	o, err := parseArgs(args, os.Stderr)
	if err == errHelp {
		return 0
	}
	if err != nil {
		usage(os.Stderr, err)
		return 2
	}
	if o.show == "" { // binary messages: as they are into a pipe, in hex on a screen
		o.show = showRaw
		if isTerminal(os.Stdout) {
			o.show = showHex
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.listen != "" {
		return runServer(ctx, o, log, os.Stdin, os.Stdout)
	}
	conn, ended, err := dial(ctx, o, log)
	if err != nil {
		log.printf("%v", err)
		return 1
	}
	if isTerminal(os.Stdin) && isTerminal(os.Stdout) && !o.nul && !o.raw { // -0 and --raw read stdin as a stream
		return runInteractive(ctx, o, conn, ended, log)
	}
	return runPipe(ctx, o, conn, ended, log, os.Stdin, os.Stdout)
}
