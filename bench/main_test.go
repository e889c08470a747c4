//go:build unix

package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the bench binary: the large
// and idle runs re-execute os.Executable() as `-serve engine/kind` to get
// the server under test in its own process, and under `go test` that is
// this binary.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == serveArg {
		os.Exit(serverMain(os.Args[2]))
	}
	os.Exit(m.Run())
}
