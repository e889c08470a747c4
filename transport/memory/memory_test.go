package memory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
	"github.com/framelink/framelink/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pipe(t *testing.T, o framelink.Options) (a, b framelink.Link) {
	a, b, err := memory.Pipe(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// r[verify transport.memory] r[verify conformance.suite]
func TestConformance(t *testing.T) {
	linktest.Run(t, pipe)
}
