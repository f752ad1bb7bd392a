//go:build race

package main

// Under -race the binaries under test are built with it too.
func init() { buildFlags = append(buildFlags, "-race") }
