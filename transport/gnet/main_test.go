package gnet

import (
	"testing"

	"go.uber.org/goleak"
)

// Goroutines started at init by gnet's dependencies (the ants worker pool
// of gnet's Register path) are ignored; every engine, loop and ticker this
// package starts must be gone by the end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
