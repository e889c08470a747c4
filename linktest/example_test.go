package linktest_test

import (
	"net"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
	"github.com/framelink/framelink/transport/memory"
)

// An engine's own tests call Run with a constructor of connected pairs.
// The constructor must honour the Options it is given and register the
// cleanup of everything it started.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
			a, b, err := memory.Pipe(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		})
	}
}

// An engine with a wire calls RunRaw with a link whose other end is a raw
// connection; here newLink stands for the engine's constructor over a
// net.Conn. Skip documents a case the engine cannot support.
func ExampleRunRaw() {
	var newLink func(net.Conn, framelink.Options) (framelink.Link, error) // e.g. netstd.NewLink
	_ = func(t *testing.T) {                                              // func TestWire(t *testing.T)
		linktest.RunRaw(t, func(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
			ours, theirs := net.Pipe()
			l, err := newLink(ours, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close(); theirs.Close() })
			return l, theirs
		}, linktest.Skip("Write/Coalesce", "example: say why here and in the engine's docs"))
	}
}

// The suite passes against the in-process transport; this keeps
// `go test ./linktest` meaningful on its own.
func TestRunMemory(t *testing.T) {
	linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
		a, b, err := memory.Pipe(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}
