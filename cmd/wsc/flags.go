package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/wsconn"
)

// options is the parsed command line.
type options struct {
	url    string // client mode: ws:// or wss://
	listen string // server mode: address to listen on

	headers   handshake.Header
	protocols []string
	origins   []string // client: the Origin sent (one); server: origins allowed

	binary bool // send binary messages
	nul    bool // NUL-separated messages, in and out
	raw    bool // all of the input as one message
	show   string

	insecure bool
	cacert   string
	deflate  bool // offer (client) or accept (server) permessage-deflate

	ping           time.Duration
	connectTimeout time.Duration
	closeTimeout   time.Duration
	maxMessage     int64

	echo    bool
	exec    string
	pty     bool
	verbose int
}

// Binary display modes.
const (
	showRaw = "raw"
	showHex = "hex"
	showLen = "len"
)

const usageText = `wsc: a WebSocket client and server for trying, scripting and debugging endpoints.

  wsc [options] ws://host:port/path     client (wss:// for TLS)
  wsc [options] -l host:port            server

Client: on a terminal, a prompt: each line is sent as a text message and
each message received is printed. Ctrl-D ends input, Ctrl-C closes (both with
1000). When stdin is not a terminal, each line of stdin is one message, each
message received is one line of stdout; at the end of stdin the client
closes with 1000, prints what still arrives until the close handshake ends,
and exits.

Server: prints what clients send (prefixed with [id] while several are
connected) and sends stdin lines to every client; --echo and --exec change
that.

Exit status: 0 after a normal close (1000 or 1001); 1 when the handshake
fails, the connection breaks or the peer closes with another code; 2 for a
usage error.

Options:
`

// counter is a flag that adds its step each time it appears (-v, -vv).
type counter struct {
	n    *int
	step int
}

func (c counter) String() string {
	if c.n == nil {
		return "0"
	}
	return strconv.Itoa(*c.n)
}
func (c counter) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if b {
		*c.n += c.step
	}
	return nil
}
func (c counter) IsBoolFlag() bool { return true }

// list is a repeatable flag.
type list struct{ v *[]string }

func (l list) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ", ")
}
func (l list) Set(s string) error { *l.v = append(*l.v, s); return nil }

// headerList is the repeatable -H 'Name: value'.
type headerList struct{ h *handshake.Header }

func (l headerList) String() string { return "" }
func (l headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("header %q is not 'Name: value'", s)
	}
	*l.h = append(*l.h, handshake.Field{Name: name, Value: strings.TrimSpace(value)})
	return nil
}

// byteSize accepts 1048576, 1024K, 16M, 1G.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return strconv.FormatInt(*b.n, 10)
}
func (b byteSize) Set(s string) error {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return fmt.Errorf("size %q: want a positive number of bytes (K, M, G suffixes allowed)", s)
	}
	*b.n = v * mult
	return nil
}

var errHelp = errors.New("help requested")

// parseArgs reads the command line. Options may come before or after the
// URL; both -name and --name work.
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wsc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "l", "", "listen on `host:port` (server mode)")
	fs.StringVar(&o.listen, "listen", "", "same as -l")
	fs.Var(headerList{&o.headers}, "H", "add a request header `'Name: value'` (repeatable)")
	fs.Var(headerList{&o.headers}, "header", "same as -H")
	fs.Var(list{&o.protocols}, "protocol", "subprotocol `name` (repeatable): offered by the client, in order of preference; accepted by the server")
	fs.Var(list{&o.protocols}, "p", "same as --protocol")
	fs.Var(list{&o.origins}, "origin", "client: the Origin header to send; server: an `origin` to allow (repeatable, * allows any; default: same host or none)")
	fs.BoolVar(&o.binary, "b", false, "send binary messages instead of text")
	fs.BoolVar(&o.binary, "binary", false, "same as -b")
	fs.BoolVar(&o.nul, "0", false, "messages are NUL-separated instead of newline-separated, on input and output")
	fs.BoolVar(&o.raw, "raw", false, "send all of the input as one message")
	fs.StringVar(&o.show, "show", "", "how received binary messages are printed: `raw|hex|len` (default: raw into a pipe, hex on a terminal)")
	fs.BoolVar(&o.deflate, "deflate", false, "compression (permessage-deflate, RFC 7692): the client offers it as browsers do, the server accepts it (context takeover both ways); -vv shows rsv=100 on compressed frames")
	fs.BoolVar(&o.insecure, "insecure", false, "wss: do not verify the server's certificate")
	fs.StringVar(&o.cacert, "cacert", "", "wss: trust the certificates in this PEM `file` (instead of the system's)")
	fs.DurationVar(&o.ping, "ping", 0, "ping the peer at this `interval`; no pong within it ends the connection (0: never)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 30*time.Second, "bound on connecting and the opening handshake")
	fs.DurationVar(&o.closeTimeout, "close-timeout", wsconn.DefaultCloseTimeout, "bound on the close handshake (and on each write in server mode)")
	o.maxMessage = wsconn.DefaultMaxMessageSize
	fs.Var(byteSize{&o.maxMessage}, "max-message", "largest message accepted, in `bytes` (K, M, G suffixes); larger: close 1009")
	fs.BoolVar(&o.echo, "echo", false, "server: send every message back")
	fs.StringVar(&o.exec, "exec", "", "server: run `command` (with sh -c) per connection; messages are lines of its stdin, lines of its stdout are messages")
	fs.BoolVar(&o.pty, "pty", false, "server, with --exec: the command's stdout is a pseudo-terminal, so that programs that buffer into a pipe (tr, grep, python) answer line by line (Linux)")
	fs.Var(counter{&o.verbose, 1}, "v", "print the handshake's request and response heads (-vv: also every frame and every rule broken)")
	fs.Var(counter{&o.verbose, 2}, "vv", "same as -v -v")
	fs.Var(counter{&o.verbose, 1}, "verbose", "same as -v")
	help := fs.Bool("h", false, "print this help")
	fs.BoolVar(help, "help", false, "same as -h")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *help {
		fmt.Fprint(stderr, usageText)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return nil, errHelp
	}
	switch {
	case o.listen != "" && len(positional) > 0:
		return nil, errors.New("give either a URL (client) or -l (server), not both")
	case o.listen == "" && len(positional) != 1:
		return nil, errors.New("give one ws:// or wss:// URL, or -l host:port")
	case o.listen == "":
		o.url = positional[0]
		if !strings.HasPrefix(o.url, "ws://") && !strings.HasPrefix(o.url, "wss://") {
			return nil, fmt.Errorf("%q: the URL must start with ws:// or wss://", o.url)
		}
	}
	switch o.show {
	case "", showRaw, showHex, showLen:
	default:
		return nil, fmt.Errorf("--show %q: want raw, hex or len", o.show)
	}
	// No option is silently ignored: refuse those that do not apply.
	client, server := o.listen == "", o.listen != ""
	if server {
		switch {
		case o.insecure || o.cacert != "":
			return nil, errors.New("--insecure and --cacert are for wss:// clients (the server speaks plain ws://)")
		case len(o.headers) > 0:
			return nil, errors.New("-H adds request headers: a client option")
		case o.echo && o.exec != "":
			return nil, errors.New("--echo and --exec exclude each other")
		case o.echo && (o.binary || o.nul || o.raw):
			return nil, errors.New("--echo sends back what it receives: -b, -0 and --raw do not apply")
		}
	}
	if client {
		switch {
		case o.echo || o.exec != "":
			return nil, errors.New("--echo and --exec are server options (-l)")
		case len(o.origins) > 1:
			return nil, errors.New("a client sends one --origin")
		case (o.insecure || o.cacert != "") && !strings.HasPrefix(o.url, "wss://"):
			return nil, errors.New("--insecure and --cacert apply to wss:// URLs")
		case o.insecure && o.cacert != "":
			return nil, errors.New("--insecure and --cacert exclude each other")
		}
	}
	if o.pty && o.exec == "" {
		return nil, errors.New("--pty is for the command run by --exec")
	}
	if o.pty && !ptySupported {
		return nil, errors.New("--pty is implemented on Linux only (stdbuf -oL in --exec makes most programs answer line by line)")
	}
	if o.raw && o.nul {
		return nil, errors.New("--raw sends one message: -0 does not apply")
	}
	if o.ping < 0 || o.connectTimeout <= 0 || o.closeTimeout <= 0 {
		return nil, errors.New("--ping must be at least 0, --connect-timeout and --close-timeout above 0")
	}
	return o, nil
}

// usage prints the short form after a usage error.
func usage(w io.Writer, err error) {
	fmt.Fprintf(w, "wsc: %v\nusage: wsc [options] ws://host:port/path | wsc [options] -l host:port  (wsc -h for options)\n", err)
}
