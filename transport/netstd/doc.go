// Package netstd is the framelink engine over Go's net package: a link over
// any net.Conn (TCP, Unix sockets, net.Pipe, named pipes) or any
// reader/writer pair (os.Pipe, stdio), TCP and Unix Dial/Listen, LocalLink
// (Unix sockets, Windows named pipes), a Dialer for reconnecting clients,
// and Serve for the push API with one goroutine per connection.
//
// r[impl transport.netstd]
//
// Receiving: Recv reads in the caller's goroutine through a codec.Reader
// (many frames per read syscall, each copied into a pooled buffer that the
// Frame gives back on Release). A context that can end is watched with
// context.AfterFunc, which interrupts the read with a past read deadline;
// the reader keeps a partial frame across that interrupt, so no frame is
// lost. On Unix, TCP and Unix-socket links read through syscall.RawConn
// and take a read buffer from the pool only once input is ready, so an
// idle link holds no read buffer (r[perf.idle]). A reader without read
// deadlines (an io.Reader that is not a pollable file or net.Conn) is read
// by one goroutine per link feeding Recv.
//
// Sending: sendq.Tx over a sendq.Queue. One writer goroutine per link takes
// every frame committed so far and writes them in one writev
// (r[link.tx.coalesce]); frames committed while a write is in flight go
// out together in the next one, and a lone frame is written at once.
// Written bytes leave the byte budget that Reserve waits on
// (r[link.tx.backpressure]).
//
// Serving: one goroutine per connection reads frames and calls the
// Handler with a view of its read buffer (no copy; valid until OnFrame
// returns). Replies committed inside callbacks are written by that same
// goroutine before it blocks for more input, so an echo costs no goroutine
// hop; replies committed from other goroutines interrupt its read (a past
// read deadline) and it writes them. A framelink.BatchHandler gets OnBatch
// instead of OnFrame: the whole frames buffered together (those a read
// brought in, up to the output's room under HighWater) as one Batch over
// the read buffer, a frame larger than the read buffer alone behind its
// header; Conn.EchoBatch copies a batch into the output at once
// (serve_batch.go). Conn.Send of a frame up to 16 KiB
// appends it to a pooled 32 KiB accumulator (no permit or slot per frame;
// serve_acc.go); the accumulator joins the write queue, and the byte
// budget, as one frame when full, before any slot's frame is committed,
// and when the goroutine writes, so frames keep their commit order. An
// idle served connection holds no read or write buffer.
//
// Ownership and goroutines: a link's Tx is safe for concurrent use; Recv is
// called from one goroutine at a time; a received Frame's bytes belong to
// the caller until Frame.Release. Link.Close, Stats and Tx.Close are safe
// from any goroutine. A served Conn's methods are safe from any goroutine.
//
// Limits: net.Pipe has no half-close, so Tx.Close on a net.Pipe link closes
// the whole pipe and the link cannot receive afterwards. A stream link over
// a reader without deadlines (a terminal, Windows stdio) cannot interrupt a
// blocked read; Close does not wait for its reader goroutine then.
package netstd
