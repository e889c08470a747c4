// Package memory is the in-process framelink transport
// (r[transport.memory]): Pipe returns two connected links with the full
// link contract and no wire. A committed frame is handed, buffer and all,
// to the peer's receive queue; nothing is copied after the sender wrote
// its slot, and no goroutine is started.
//
// Choices specific to this transport:
//
//   - Backpressure (r[link.tx.backpressure]): a link's budget counts the
//     bytes (payload plus the 4 header bytes the slot reserves) committed
//     but not yet taken by the peer's Recv. There is no kernel to hand
//     bytes to, so "written" means "received": Reserve blocks while the
//     peer lags by more than HighWater until it catches up under LowWater.
//   - MaxFrame is enforced on Alloc (and Send); as nothing is decoded, the
//     receiver's Oversize counter stays zero, and the wire.* requirements
//     (linktest.RunRaw) do not apply. linktest.Run passes in full.
//   - Tx.Close never waits: the frames committed before it are already in
//     the peer's queue, and the peer's Recv returns io.EOF after them.
//   - Link.Close ends both halves locally (pending and later Reserve, Send
//     and Recv return framelink.ErrClosed), drops the frames it had not
//     received, and closes the peer gracefully in both directions: the
//     peer receives every frame committed before Close, then io.EOF; the
//     peer's Reserve, Send and Commit then fail with io.ErrClosedPipe, the
//     error net.Pipe gives for a write to a closed peer.
package memory
