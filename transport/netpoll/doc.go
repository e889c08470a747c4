// Package netpoll is the framelink engine on cloudwego/netpoll
// (r[transport.netpoll]): push-API serving on a netpoll EventLoop with no
// goroutine parked per idle connection, and pull-API links (Dial, Listen)
// whose I/O runs on netpoll's pollers.
//
// Configuration is per instance only. Nothing here calls netpoll.Configure,
// SetNumLoops, SetRunner or any other process-wide setter: netpoll's
// pollers (runtime.GOMAXPROCS/20+1 goroutines in Poll.Wait) and its worker
// pool are created by netpoll on first use, with its defaults, and shared
// with any other netpoll user in the process. They outlive every server
// and link; goroutine-leak checks must ignore them (BackgroundFuncs).
//
// # Receiving (push API)
//
// netpoll's poller reads each readable socket into the connection's input
// buffer and runs OnRequest in a worker goroutine. OnRequest delivers every
// whole frame buffered: it Peeks the 4-byte header, checks the maximum
// (codec.Split; an oversize header closes the connection with
// ErrFrameTooLarge before any payload is awaited), and passes OnFrame a
// view of the input buffer (Next: zero-copy unless the frame straddles two
// buffer nodes), released after the batch. A framelink.BatchHandler gets
// OnBatch instead, never OnFrame: one call per run of whole frames that
// lies in one buffer node (a view, no copy), at most the output's room
// under its high-water mark but at least one frame; a frame that straddles
// two nodes, or that OnRequest waited for, comes in a batch of its own
// (batch.go). The pause and read-ahead checks below come between batches.
// Conn.EchoBatch copies a batch's bytes into the output once, as one
// commit. netpoll calls OnRequest again at once while input is left unread,
// so a partial frame cannot simply be left for later: OnRequest flushes the
// replies so far and blocks in the Reader for the rest of the frame,
// bounded by Options.FrameTimeout (netpoll's per-connection read timeout).
// So a worker goroutine waits only on a connection that is in the middle of
// a frame or paused (see Backpressure); between frames none does.
// IdleTimeout is a runtime timer per connection (netpoll's own
// SetIdleTimeout is TCP keepalive). Both timeouts close the connection with
// an error matching os.ErrDeadlineExceeded (r[serve.timeouts]). netpoll can
// run the connection's close callback after the peer's end of stream with
// whole frames no OnRequest has seen (its worker and its hang-up handling
// race for the connection): the close callback delivers them (OnFrame, or
// OnBatch in the same batches) before OnClose, unless the connection was
// closed here first, so the handler sees every frame the peer sent (their
// replies fail with ErrClosed: the peer is gone), then OnClose(nil), or
// io.ErrUnexpectedEOF after part of a frame.
//
// # Sending
//
// Committed frames are queued in pool buffers (Send copies header and
// payload there once, as a hand-written server copies into netpoll's
// Writer; a big slot frame is adopted as it is) and written to the
// socket with writev by one writer at a time, bypassing netpoll's output
// buffer. Replies committed during an OnRequest batch are written in one
// writev at the batch's end, from the worker goroutine, like a
// hand-written server's Flush (the socket is non-blocking: Commit never
// waits for the network). A frame committed outside a batch starts a
// short-lived flusher goroutine if none runs; frames committed while a
// write runs leave together in the next one (r[link.tx.coalesce]), a lone
// frame leaves at once. When the socket is full, the flusher of a served
// connection copies the rest into netpoll's Writer and Flushes, so
// netpoll's poller waits for the socket; a pull link's flusher waits
// through a duplicate descriptor on Go's runtime poller instead (netpoll's
// Flush would switch its reads back on, see "Pull links"). Slots from
// Permit.Alloc / Conn.Alloc are pool buffers until Commit, so Discard and
// Permit.Release only return a pool buffer; nothing half-written can be
// sent (r[link.tx.discard]). The byte budget counts bytes from Commit
// until they were written to the kernel.
//
// # Backpressure
//
// Pull links: Reserve and Send block while the budget is above the
// high-water mark, until it falls under the low-water mark
// (r[link.tx.backpressure]).
//
// Served connections (r[serve.reply]): netpoll has no API to stop reading
// a connection. Its poller reads every readable socket into the
// connection's input buffer, and an OnRequest that leaves input unread is
// called again at once. But OnRequest runs on a worker goroutine of
// netpoll's pool, not on the poller, so it can wait. When the output is
// over the high-water mark before a frame is delivered, OnRequest pauses:
// it flushes the replies so far, switches netpoll's reads of the socket
// off (on Linux: the descriptor is re-registered with netpoll's epoll
// instance without EPOLLIN, keeping netpoll's own epoll data, found by
// reflection for the netpoll version this was verified against, v0.7.2;
// readswitch_linux.go), and waits, delivering nothing, until the output is
// under the low-water mark; then it switches reads back on and goes on.
// Meanwhile the peer's bytes wait in the kernel and the TCP window stops
// the peer, as on the other engines. This parks one worker goroutine per
// paused connection only (an idle connection still has none); other
// connections are served by other workers meanwhile. A served
// connection's full socket is waited for on Go's runtime poller through a
// duplicate descriptor (netpoll's Flush would switch reads back on), so
// the paused connection costs one more descriptor while its socket is
// full.
//
// netpoll's blocking read can only be woken by input, a close or its read
// timeout, so the paused worker waits in the Reader, with the read timeout
// as the clock on which it checks the output: every 0.5 ms at first,
// doubling to every 50 ms while the peer does not read. While paused,
// FrameTimeout and IdleTimeout do not run (the pause comes between frames,
// and the idle clock restarts when it ends); Close and Shutdown end a
// pause.
//
// Where reads cannot be switched off (another OS, another netpoll
// version), netpoll keeps reading while paused and the input is held, up
// to a limit: once the input held by a paused connection reaches
// 8×HighWater, or HighWater + 2×(MaxFrame+4) bytes if that is more
// (36 MiB with the defaults; about what Linux lets the kernel buffer for
// a paused socket of another engine), the connection is closed with
// ErrOutputOverflow (matching syscall.ENOBUFS).
//
// Replies sent from OnFrame queue at most HighWater plus the replies to
// one frame (the next frame waits); a commit that finds more than
// 2×HighWater + MaxFrame+4 queued (bulk replies, or sends from other
// goroutines, to a peer that does not read) is refused with
// ErrOutputOverflow and closes the connection too.
//
// netpoll also reads ahead of OnRequest, as fast as the peer sends,
// paused or not: a handler slower than its peer would let the input pile
// up. So between frames OnRequest looks at the input held, and past the
// input limit above it switches netpoll's reads off until it has caught
// up to half the limit (where reads cannot be switched off, it holds it).
// A handler that blocks inside OnFrame is not looked at until it returns.
//
// So what a peer can make a connection hold is bounded: output at most
// 2×HighWater + MaxFrame+4 plus one frame per sending goroutine; input the
// input limit plus what netpoll read meanwhile (one read, at most 8 MiB)
// while the handler keeps up between frames, or, without the read switch
// and paused, the input limit plus one netpoll read.
//
// The same poller behaviour would let a pull link buffer whatever its peer
// sends while the application does not call Recv. A link bounds it: its
// OnRequest (on a netpoll worker) moves whole frames into a queue for Recv
// until HighWater bytes of payload wait there, then switches netpoll's
// reads of that socket off until Recv has taken the queue under LowWater,
// so the peer's bytes wait in the kernel and the TCP window stops the
// peer. Reads stay off after that while netpoll still holds more than the
// input limit above of input not yet decoded, until decoding has taken it
// under half the limit, like a served connection's read-ahead: switched
// on at each pause's end, netpoll would add what the kernel held for
// every LowWater to HighWater of frames Recv takes. netpoll has no API
// for switching reads: on Linux the link re-registers the descriptor with
// netpoll's epoll instance, keeping netpoll's own epoll data, found by
// reflection for the netpoll version it was verified against (v0.7.2;
// readswitch_linux.go). Reads stay on where that is not
// possible (another OS or netpoll version) and after Tx.Close
// (once both directions are shut, the peer's end of stream raises a
// hang-up that netpoll handles without reading what the kernel still
// holds); there the link holds the input netpoll reads up to the larger
// of 32 MiB and the input limit above, and past it closes: Recv returns
// the frames queued, then ErrInputOverflow (matching syscall.ENOBUFS).
//
// netpoll treats a peer's half-close (EPOLLRDHUP) as the end of the
// connection, so a netpoll link cannot send after it read io.EOF. The
// conformance tests skip exactly that case, with the reason.
//
// # Idle connections
//
// No goroutine and no framelink buffer is held by an idle connection
// (r[perf.idle]): the send queue and its pool buffers go back to their
// pools once written, and as replies bypass netpoll's output buffer, its
// 4 KiB node is never allocated unless the socket was once full. What an
// idle served connection keeps, from a heap profile of 2,000 idle
// connections after one echo each (in-use bytes per connection):
//
//	netpoll: 8 KiB input node (allocated when netpoll accepts; only the
//	         process-wide Configure could shrink it), 1.4 KiB output
//	         iovec barrier, about 1.2 KiB of connection, LinkBuffer,
//	         operator and address structs
//	framelink: about 570 B (the sconn with its output, the budget, the
//	         close callback and the server's map entry)
//
// A hand-written netpoll echo keeps the same netpoll state plus the 4 KiB
// output node, so a framelink connection costs about 3.5 KiB less
// (BenchmarkIdleConns; the bench's idle figures).
//
// # Errors
//
// netpoll's errors are mapped to framelink's (r[link.errors]): its EOF to
// io.EOF on a frame boundary and io.ErrUnexpectedEOF inside a frame, its
// read/write timeouts to errors matching os.ErrDeadlineExceeded, a local
// close to framelink.ErrClosed, a write after the peer went away to an
// error matching syscall.EPIPE. netpoll reports a peer's reset like a
// close, so a reset reads as io.EOF or io.ErrUnexpectedEOF.
//
// # Pull links
//
// Dial and Listen set connections up with Go's net package (so ctx bounds
// the dial, and Unix sockets work), then move the socket to netpoll. The
// link's OnRequest, on a netpoll worker goroutine while input is buffered,
// checks each header against MaxFrame, copies each payload into a pooled
// buffer owned by the Frame and queues it; Recv takes frames from that
// queue, so a context can end a Recv at any time without losing a frame
// that was half read, and Close wakes it. netpoll can run the
// connection's close callback after the peer's end of stream with input
// no OnRequest has seen (its worker and its hang-up handling race for the
// connection; and a hang-up it handles before the link set OnRequest runs
// no close callback at all, which the link then makes it run): the close
// callback decodes that input, so Recv returns every frame the peer sent
// before io.EOF.
package netpoll

// BackgroundFuncs names the functions of netpoll's process-wide goroutines,
// which outlive every framelink server and link: its pollers (started on
// first use, never stopped), its worker pool (workers exit shortly after
// their last task) and its batched hang-up handling. Leak checks pass them
// to goleak.IgnoreAnyFunction. Read only.
var BackgroundFuncs = []string{
	"github.com/cloudwego/netpoll.(*defaultPoll).Wait",
	"github.com/bytedance/gopkg/util/gopool.(*worker).run.func1",
	"github.com/cloudwego/netpoll.(*defaultPoll).onhups.func1",
}
