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
// The subtests, by the names Skip takes, and what they verify:
//
//	Run:
//	  Split, Tx/Backpressure/SplitBlocked          r[link.split]
//	  Message, Large                               r[link.message]
//	  Order                                        r[link.order]
//	  Empty                                        r[wire.empty]
//	  MaxFrame, Tx/AllocLimits                     r[wire.max] r[link.tx.alloc.limits]
//	  Tx/Backpressure/Bound                        r[link.tx.backpressure]
//	  Tx/Cancel                                    r[link.tx.cancel]
//	  Tx/PermitRelease, Tx/PermitDrop              r[link.tx.permit.release]
//	  Tx/Discard, Tx/DroppedSlot                   r[link.tx.discard]
//	  Tx/Commit, Tx/CommitWhileBlocked             r[link.tx.commit]
//	  Tx/Misuse                                    r[link.tx.misuse]
//	  Tx/Concurrent                                r[link.tx.concurrent]
//	  Tx/Send                                      r[link.tx.send]
//	  Rx/Hold, Rx/Cancel                           r[link.rx.recv]
//	  Rx/EOF                                       r[link.rx.eof]
//	  TxClose/Graceful, TxClose/PendingReserve,
//	  TxClose/HalfClose                            r[link.tx.close]
//	  Close/Pending, Close/Idle, Close/Concurrent  r[link.close]
//	  Stats                                        r[link.stats]
//	  Errors                                       r[link.errors]
//	RunRaw:
//	  Write/Frames                                 r[wire.frame] r[link.tx.close]
//	  Write/LoneFrame, Write/Coalesce              r[link.tx.coalesce]
//	  Read/Frames, Read/Empty, Read/ByteAtATime,
//	  Read/ManyInOneWrite, Read/Chunked            r[wire.frame] r[wire.empty]
//	  Read/CancelMidFrame                          r[link.rx.recv]
//	  Read/MaxFrame, Read/Oversize,
//	  Read/OversizeByOne                           r[wire.max] r[link.rx.error]
//	  Read/TruncatedHeader, Read/TruncatedPayload  r[wire.truncated] r[link.rx.error]
//	  Read/EOF, Read/EOFAtStart                    r[wire.eof] r[link.rx.eof]
//
// Subtests that need a receiver which stops reading (so that the sender's
// Reserve blocks) are Tx/Backpressure/*, Tx/Cancel, Tx/CommitWhileBlocked,
// TxClose/PendingReserve and Close/Pending; SkipStalledReceiver skips them
// all for an engine whose receiver reads whether or not Recv is called.
// The backpressure subtests use water marks of 64 KiB / 16 KiB and commit
// up to 64 MiB while looking for the point where Reserve blocks, so kernel
// socket buffers of any usual size fill first.
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
