// Command gen declares wsfsm's machines with package fsm and writes the Go
// code and Graphviz pictures generated from them. Run it from anywhere in
// the module: `go generate ./...` or `go run ./gen`.
//
// Generation is a pure function (generate) from the declarations to file
// contents; main only writes them. The golden test fails when the committed
// files differ from what generate returns.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/wsfsm/wsfsm/fsm"
)

// generate returns the content of every generated file, keyed by its path
// relative to the module root.
func generate() (map[string][]byte, error) {
	server, client, utf8 := frameMachine(true), frameMachine(false), utf8Machine()
	request, response := headMachine(true), headMachine(false)
	for _, m := range []*fsm.Machine{server, client, utf8, request, response} {
		if err := m.Check(); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{
		"wsframe/frame_server.dot": []byte(server.Dot()),
		"wsframe/frame_client.dot": []byte(client.Dot()),
		"wsframe/utf8.dot":         []byte(utf8.Dot()),
		"handshake/request.dot":    []byte(request.Dot()),
		"handshake/response.dot":   []byte(response.Dot()),
	}
	var err error
	add := func(path string, b []byte, e error) {
		if e != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", path, e))
		}
		out[path] = b
	}
	b, e := emitRules("wsframe", frameRules, "CloseCode", "close code")
	add("wsframe/rules_gen.go", b, e)
	b, e = emitRules("handshake", headRules, "int", "HTTP status")
	add("handshake/rules_gen.go", b, e)
	b, e = emitStepper(stepper{pkg: "handshake", recv: "HeadReader", machines: []*fsm.Machine{request, response},
		actions: headActions, guard: "headActions", names: "headStateNames"})
	add("handshake/head_gen.go", b, e)
	b, e = emitStepper(stepper{pkg: "wsframe", recv: "Parser", machines: []*fsm.Machine{server, client},
		actions: frameActions, guard: "frameActions", names: "frameStateNames"})
	add("wsframe/frame_gen.go", b, e)
	b, e = emitTable("wsframe", utf8)
	add("wsframe/utf8_gen.go", b, e)
	return out, err
}

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func main() {
	rootFlag := flag.String("root", "", "module root (default: the directory of the nearest go.mod)")
	flag.Parse()
	root := *rootFlag
	if root == "" {
		wd, err := os.Getwd()
		if err == nil {
			root, err = moduleRoot(wd)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	files, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, files[p]) {
			continue // unchanged: keep the file's timestamp
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		fmt.Println("gen: wrote", p)
	}
}
