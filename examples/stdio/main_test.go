package main

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary is also the child: re-executed with childEnv set, it
// serves stdin/stdout instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := child(); err != nil {
			os.Stderr.WriteString("stdio child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// r[verify transport.netstd]
func TestParentChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang bound
	defer cancel()
	const n = 2000
	got, err := parent(ctx, exe, n)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("exchanged %d frames, want %d", got, n)
	}
}
