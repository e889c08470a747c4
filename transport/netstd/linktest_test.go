package netstd

import (
	"testing"

	"github.com/framelink/framelink/linktest"
)

// r[verify transport.netstd] r[verify conformance.suite]
func TestConformance(t *testing.T) {
	for _, name := range []string{"tcp", "unix", "netpipe", "ospipe", "iopipe"} {
		t.Run(name, func(t *testing.T) {
			var opts []linktest.Option
			if name == "netpipe" {
				// net.Pipe has no half-close: Tx.Close closes the whole
				// pipe, so the closing side cannot receive afterwards
				// (documented on NewLink).
				opts = append(opts, linktest.Skip("TxClose/HalfClose", "net.Pipe has no half-close"))
			}
			linktest.Run(t, pairs[name], opts...)
		})
	}
}

// r[verify transport.netstd] r[verify conformance.suite]
func TestConformanceRaw(t *testing.T) {
	for _, name := range []string{"tcp", "unix", "netpipe", "ospipe"} {
		t.Run(name, func(t *testing.T) {
			linktest.RunRaw(t, rawPairs[name])
		})
	}
}
