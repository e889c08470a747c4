// Package framelink is the contract of a length-prefixed message framing
// library: every frame on the wire is [u32 little-endian length][payload].
//
// The package holds only the contract shared by every I/O engine: the Link
// (split into a sending half Tx and a receiving half Rx), the permit/slot
// send path (Reserve, Alloc, write in place, Commit), received Frames, the
// push-API Handler, options, counters and the error taxonomy. The engines
// live in transport/netstd (Go's net), transport/netpoll
// (cloudwego/netpoll), transport/gnet (panjf2000/gnet/v2) and
// transport/memory (in-process). Every engine passes the same conformance
// suite, linktest, so swapping one for another is a one-line change.
//
// Spec: ../shared/SPEC.md. Requirement IDs appear in comments as r[impl ID].
package framelink
