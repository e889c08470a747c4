// Package gnet is framelink's engine on panjf2000/gnet/v2 (v2.9.7) event
// loops (r[transport.gnet]), on Unix systems (Linux, the BSDs, macOS); on
// Windows the package is empty.
//
//   - Serve runs a Handler (push API) on a gnet engine of its own: one
//     event loop per CPU with Options.Multicore (the zero Options give one
//     loop), no goroutine per connection, callbacks on the loops. The
//     engine is stopped through its own gnet.Engine handle (from OnBoot),
//     never with gnet.Stop by address.
//   - Listen/Accept and Dial give pull-API Links. Listen has an engine of
//     its own; every Dial shares one gnet.Client engine, started by the
//     first Dial and stopped when the last dialed link closes (see Dial).
//   - Package gnetcodec is the same wire format for an existing
//     gnet.EventHandler (r[transport.gnet.embed]).
//
// # Receiving
//
// OnTraffic decodes every whole frame gnet holds (gnet calls back only
// when new bytes arrive, so nothing deliverable is left behind). A frame
// contiguous in gnet's memory is handed to OnFrame as a view (Peek) and
// Discarded after the callback returns; it is never retained, because gnet
// reuses that memory (its per-loop read buffer, its ring) for the next
// read. A frame larger than 64 KiB (gnet's default read buffer; server
// engines read up to 128 KiB at a time) that one read did not complete is
// assembled in a pool buffer of its own size as it arrives, so gnet's
// ring does not grow to twice it. A header above MaxFrame closes the connection at once with
// ErrFrameTooLarge; the declared size is never buffered. Pull links copy
// each frame into a pool buffer that the Frame owns until Release.
//
// A framelink.BatchHandler gets, instead of one OnFrame per frame, one
// OnBatch for every whole frame of the window (framelink.CutBatch over the
// Peeked bytes, capped at the output's room under HighWater); an
// assembled frame comes alone, with its header.
//
// # Sending
//
// Slots are pool buffers with the header in front (gnet has no API to
// reserve bytes in its outbound buffer, and that buffer may only be
// touched on the loop); Conn.Send appends to a pooled 32 KiB accumulator
// instead, so a handler's replies share one buffer. Conn.Echo of a frame
// being delivered copies nothing (echo.go): consecutive echoes extend a
// span of gnet's input window, written with one gnet Write before the
// window is Discarded, which is what a hand-written gnet echo does; the
// handler must not modify the payload after Echo. Conn.EchoBatch of (a run
// of) the batch being delivered extends the span by the whole batch at
// once. A frame committed
// inside a callback of its connection joins the batch written when the
// callback returns. From any other goroutine (write.go):
//
//   - the first frame committed since a frame arrived (a reply, typically)
//     is written at once by the committing goroutine with a non-blocking
//     writev on the descriptor, while gnet's outbound buffer is empty: no
//     allocation and no hop to the loop; a short write hands the rest to
//     the loop;
//   - any other commit queues one task on the loop (gnet's AsyncWritev
//     with an empty vector, whose callback runs on the loop), and every
//     frame committed until it runs goes out in the same write (one write
//     of a merged copy up to 8 KiB, else writev). gnet's AsyncWritev costs
//     three allocations per call (its hook, a method value, a queue node),
//     shared by the whole batch.
//
// One writer at a time owns the socket's write side. gnet copies what the
// socket does not take into its outbound buffer, so the pool buffers are
// free as soon as a write returns.
//
// # Backpressure and its limits on gnet
//
// gnet's outbound buffer is unbounded. The engine counts, per connection,
// the bytes committed and not yet written to the kernel (its own batch
// plus gnet's OutboundBuffered), which is what QueuedBytes reports and
// what Reserve waits on (r[link.tx.backpressure]). gnet has no callback
// when its outbound buffer drains, so while output waits there the
// engine's ticker (gnet's OnTick, every millisecond while any connection
// has output waiting, else every 100 ms or a tenth of the shortest
// timeout) looks again.
//
// When a connection's output passes HighWater (or a pull link's receive
// queue passes HighWater bytes because the application does not Recv),
// the engine stops reading it until the output drains under LowWater
// (r[serve.reply]). gnet v2.9.7 has no API to stop read events for one
// connection, and its read loop always drains a readable socket into the
// connection's inbound buffer, so merely not consuming input would let
// memory grow without bound. On Linux with gnet's default poller the
// engine therefore switches EPOLLIN off for that socket on its loop's
// epoll descriptor (found by reflection on gnet's unexported fields,
// read-only; if that ever fails, see the fallback below), and the kernel's
// TCP window pushes back on the peer. gnet turns read events back on
// whenever its outbound buffer changes between empty and not empty; the
// engine re-applies the pause on the next look, so at most one read (128
// KiB on a server engine, 64 KiB on Dial's) slips in each time. That takes
// a peer that reads (one that does not leaves gnet's outbound buffer not
// empty), and over a long pause of a slow reader such reads add up: the
// connection is closed with ErrOverflow (matching syscall.ENOBUFS) only if
// the held input passes max(8×HighWater, HighWater + 2×(MaxFrame+4))
// (36 MiB by default, the bound of netpoll's fallback).
//
// The fallback, used on other platforms, with the poll_opt build tag, or
// if the descriptor cannot be found: the paused connection is not decoded
// (no OnFrame, so no more replies), gnet keeps buffering its input, and
// once that held input passes HighWater plus 256 KiB (two reads) the
// connection is closed with ErrOverflow. Either way a connection holds at
// most HighWater plus one frame of output; a peer that does not read can
// make it hold HighWater plus 256 KiB of input (plus the one read that
// crosses the limit, in the fallback).
//
// # Other gnet limits
//
//   - gnet closes a connection entirely when the peer shuts its write side
//     down (it treats end of stream as the end of the connection). A pull
//     link survives it: in OnClose, before gnet closes its descriptor, the
//     link takes a duplicate of the socket and lives on write-only, served
//     by one goroutine on Go's poller until Tx.Close or Link.Close
//     (rescue.go), so the peer's Tx.Close is a true half-close
//     (r[link.tx.close]). Exception: if gnet still holds output for it at
//     that moment (a peer that also stopped reading), gnet flushes that
//     once without waiting and drops the rest, so the link is closed. A
//     push connection (Serve) ends with OnClose at the peer's end of
//     stream; replies not yet written are flushed best effort by gnet.
//     Tx.Close itself is a real half-close (shutdown SHUT_WR after
//     everything was written).
//   - gnet keeps a process-wide default logger that each engine replaces
//     with its Options.Logger; framelink passes one that drops debug and
//     info lines and logs warnings and errors through package log.
//   - gnet's accept loop treats any accept error other than EAGAIN, EINTR,
//     ECONNRESET and ECONNABORTED (EMFILE, for one) as fatal and stops the
//     engine: raise the descriptor limit for many connections.
//   - Listener.Close cannot close gnet's listening socket alone: new
//     connections are refused (closed on open) until the last accepted
//     link is closed, which stops the engine.
//
// # Shutdown
//
// Server.Shutdown stops accepting and decoding (no OnFrame once it began;
// input still arriving is read and discarded), writes what was committed,
// then shuts each connection's write side and keeps reading until the
// peer closes, or (Linux) the peer's kernel acknowledged every byte and
// the end of stream (SIOCOUTQ, polled by the ticker every millisecond),
// or ctx ends (r[serve.shutdown], shutdown.go). Closing a socket with
// unread input any earlier would reset the connection and drop the
// replies in flight. A pull link whose write fails on such a reset
// (EPIPE, ECONNRESET; gnet tries its pending write before reading) first
// delivers the frames the kernel still holds, as at end of stream.
//
// # Memory
//
// gnet allocates a connection's inbound and outbound ring buffers lazily
// and gives them back to its pools when they empty; framelink's per-
// connection state is one struct (about 400 bytes) plus its budget and Tx.
// Measured with 5,000 idle connections held by a child process
// (BenchmarkIdleMemory): about 1,000 bytes of live heap per connection on
// framelink's Serve against about 340 for a bare gnet echo (r[perf.idle]).
// Output buffers come from the pool only while frames are in flight.
//
// # Timeouts
//
// gnet's Conn.SetDeadline family returns ErrUnsupportedOp, so deadlines
// are kept by the engine.
//
// FrameTimeout and IdleTimeout (r[serve.timeouts]) are checked by the
// ticker, which queues a look on the loop of each connection whose
// deadline passed; the connection closes with an error matching
// os.ErrDeadlineExceeded. Nothing blocks a loop, so a stalled peer never
// delays the others. Timeouts are suspended while a connection is paused.
package gnet
