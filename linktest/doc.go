// Package linktest is the framelink conformance suite (r[conformance.suite]).
//
// It checks every link.* and wire.* requirement of the contract against
// any engine, the way golang.org/x/net/nettest.TestConn checks a net.Conn:
//
//   - Run(t, mk) runs link↔link subtests over pairs of connected links
//     made by mk (a Pair);
//   - RunRaw(t, mk) runs link↔raw-socket subtests over a link and the raw
//     byte stream at the other end (a RawPair), so it can write hand-made
//     bytes (oversize and truncated headers, a frame split one byte at a
//     time, 10,000 frames in one write) and read exactly what the link
//     writes.
//
// A third-party engine calls it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
//			a, b, err := myengine.Pipe(o)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { a.Close(); b.Close() })
//			return a, b
//		})
//	}
//
// Every subtest makes fresh links with the options it needs (small water
// marks, small maximum frame lengths), so constructors must honour the
// Options they are given. Subtest names are stable: Skip takes them.
//
// Each subtest checks for leaked goroutines once every cleanup registered
// by the constructor has run: goroutines alive when the subtest started are
// ignored, and so are those matched by IgnoreGoroutines (for engine-wide
// pollers or event loops that outlive a link). A constructor must
// therefore stop everything it started (listeners, accept goroutines) in
// its t.Cleanup functions.
//
// Every wait is bounded by a context (Timeout, default 20 s), so a hang
// fails the subtest instead of hanging CI; no subtest asserts on
// durations. Subtests do not run in parallel.
package linktest
