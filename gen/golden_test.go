package main

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsfsm/wsfsm/fsm"
)

// The committed files must be exactly what the generator writes now.
func TestGoldenFilesMatchGenerator(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	root, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./...)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run go generate ./... and commit", path)
		}
	}
}

func TestGenerationIsDeterministic(t *testing.T) {
	a, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b, _ := generate()
		for path := range a {
			if !bytes.Equal(a[path], b[path]) {
				t.Fatalf("%s differs between two runs", path)
			}
		}
	}
}

func TestGeneratedGoIsMarkedAndFormatted(t *testing.T) {
	files, _ := generate()
	for path, b := range files {
		if !strings.HasSuffix(path, ".go") {
			continue
		}
		if !strings.HasSuffix(path, "_gen.go") {
			t.Errorf("%s: generated Go files end in _gen.go", path)
		}
		if !bytes.HasPrefix(b, []byte("// "+header+"\n")) {
			t.Errorf("%s does not start with the generated-code header", path)
		}
		if f, err := format.Source(b); err != nil || !bytes.Equal(f, b) {
			t.Errorf("%s is not gofmt-clean (%v)", path, err)
		}
	}
}

// Every declared machine passes fsm.Check, and the frame machines use
// exactly the declared actions: no action declared and unused.
func TestMachinesCheckAndUseEveryAction(t *testing.T) {
	used := map[string]bool{}
	for _, m := range []*fsm.Machine{frameMachine(true), frameMachine(false), utf8Machine(), headMachine(true), headMachine(false)} {
		if err := m.Check(); err != nil {
			t.Error(err)
		}
		for _, a := range m.Actions() {
			used[a] = true
		}
	}
	for _, a := range append(frameActions, headActions...) {
		if !used[a.Name] {
			t.Errorf("action %s is declared but no machine uses it", a.Name)
		}
	}
	for _, r := range frameRules {
		if r.Code < 1000 || r.Code > 4999 {
			t.Errorf("rule %s: close code %d", r.Name, r.Code)
		}
	}
	for _, r := range headRules {
		if r.Code != 0 && (r.Code < 400 || r.Code > 599) {
			t.Errorf("rule %s: HTTP status %d", r.Name, r.Code)
		}
	}
}
