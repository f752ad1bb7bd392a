package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/server"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-vv", "-H", "A: 1", "ws://h/", "--header", "B:2", "-v", "--protocol=x", "-p", "y",
		"--max-message", "2M", "--ping", "3s", "-0", "-b"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := handshake.Header{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	if o.url != "ws://h/" || o.verbose != 3 || !reflect.DeepEqual(o.headers, want) ||
		!reflect.DeepEqual(o.protocols, []string{"x", "y"}) || o.maxMessage != 2<<20 || o.ping != 3*time.Second || !o.nul || !o.binary {
		t.Fatalf("parsed %+v", o)
	}
	for _, bad := range [][]string{
		{},                                      // no URL
		{"http://h/"},                           // not ws
		{"ws://a/", "ws://b/"},                  // two URLs
		{"-l", ":1", "ws://a/"},                 // both roles
		{"--echo", "ws://a/"},                   // server option on a client
		{"-l", ":1", "-H", "A: b"},              // client option on a server
		{"-l", ":1", "--echo", "--exec", "cat"}, // exclusive
		{"--insecure", "ws://a/"},               // TLS option without TLS
		{"-H", "no colon", "ws://a/"},           // malformed header
		{"--max-message", "0", "ws://a/"},       // not a size
		{"--show", "octal", "ws://a/"},          // unknown display
		{"--raw", "-0", "ws://a/"},              // one message has no separator
		{"--origin", "a", "--origin", "b", "ws://a/"},
	} {
		if _, err := parseArgs(bad, io.Discard); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	// --pty exists where it is implemented (Linux) and is refused elsewhere.
	_, err = parseArgs([]string{"-l", ":1", "--exec", "cat", "--pty"}, io.Discard)
	if ptySupported != (err == nil) {
		t.Errorf("--pty with ptySupported=%v: error %v", ptySupported, err)
	}
	// Usage errors exit 2 and say why.
	r := wsc(t, strings.NewReader(""), "--echo", "ws://127.0.0.1:1/")
	wantCode(t, r, 2)
	wantStderr(t, r, `--echo and --exec are server options`)
	r = wsc(t, strings.NewReader(""), "-h")
	wantCode(t, r, 0)
	wantStderr(t, r, `-vv`)
}

// selfSigned writes a certificate for 127.0.0.1 and returns the server's
// TLS config and the PEM file's path.
func selfSigned(t *testing.T) (*tls.Config, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsc test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, path
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cfg, caFile := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: server.Funcs{Message: func(c *wsconn.Conn, op wsframe.Opcode, p []byte) {
		c.WriteMessage(op, p)
	}}, Options: server.Options{Logf: func(string, ...any) {}}}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { ln.Close() })
	u := "wss://" + ln.Addr().String() + "/"
	r := wsc(t, strings.NewReader("secret\n"), u)
	wantCode(t, r, 1)
	wantStderr(t, r, `TLS: .*certificate`)
	r = wsc(t, strings.NewReader("secret\n"), "--cacert", caFile, u)
	wantCode(t, r, 0)
	wantStdout(t, r, "secret\n")
	r = wsc(t, strings.NewReader("secret\n"), "--insecure", u)
	wantCode(t, r, 0)
	wantStdout(t, r, "secret\n")
}

// TestPingAndTimeouts: a peer that never answers a ping is dropped after
// --ping; one that never answers the handshake after --connect-timeout;
// one that never answers the Close after --close-timeout.
func TestPingAndTimeouts(t *testing.T) {
	t.Parallel()
	// Answers the handshake, then reads and says nothing.
	addr, _ := badServer(t, nil)
	start := time.Now()
	r := wsc(t, openStdin(t, ""), "--ping", "200ms", "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `no pong within --ping 200ms`)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	addr, _ = badServer(t, nil)
	r = wsc(t, strings.NewReader("x\n"), "--close-timeout", "300ms", "ws://"+addr+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `no Close from the peer within --close-timeout 300ms`)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r = wsc(t, strings.NewReader(""), "--connect-timeout", "300ms", "ws://"+ln.Addr().String()+"/")
	wantCode(t, r, 1)
	wantStderr(t, r, `the opening handshake took longer than --connect-timeout 300ms`)

	// Pings both ways with a live peer: wsecho pings a client silent for
	// 100 ms, which answers; the client pings every 300 ms (so that wsecho
	// sees such silences: the client's pings are input to it), wsecho
	// answers. stdin ends once the trace has shown all four.
	echo := startEcho(t, "-ping", "100ms")
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, wscBin, "-vv", "--ping", "300ms", "ws://"+echo+"/")
	stdin, _ := cmd.StdinPipe()
	stderr, _ := cmd.StderrPipe()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^wsc: < @\d+ fin=1 rsv=000 op=ping unmasked len=0$`),
		regexp.MustCompile(`^wsc: > @\d+ fin=1 rsv=000 op=pong masked=[0-9a-f]{8} len=0$`),
		regexp.MustCompile(`^wsc: > @\d+ fin=1 rsv=000 op=ping masked=[0-9a-f]{8} len=0$`),
		regexp.MustCompile(`^wsc: < @\d+ fin=1 rsv=000 op=pong unmasked len=0$`),
	}
	seen := make([]bool, len(want))
	var trace strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && stdin != nil {
		trace.WriteString(sc.Text() + "\n")
		all := true
		for i, re := range want {
			seen[i] = seen[i] || re.MatchString(sc.Text())
			all = all && seen[i]
		}
		if all {
			io.WriteString(stdin, "a\n")
			stdin.Close()
			stdin = nil
		}
	}
	io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	if stdin != nil || err != nil || out.String() != "a\n" {
		t.Fatalf("pings both ways: seen %v, exit %v, stdout %q; trace:\n%s", seen, err, out.String(), trace.String())
	}
}
