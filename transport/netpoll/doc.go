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
// buffer nodes), released after the batch. netpoll calls OnRequest again
// at once while input is left unread, so a partial frame cannot simply be
// left for later: OnRequest flushes the replies so far and blocks in the
// Reader for the rest of the frame, bounded by Options.FrameTimeout
// (netpoll's per-connection read timeout). So a worker goroutine waits only
// on a connection that is in the middle of a frame; between frames none
// does. IdleTimeout is a runtime timer per connection (netpoll's own
// SetIdleTimeout is TCP keepalive). Both timeouts close the connection with
// an error matching os.ErrDeadlineExceeded (r[serve.timeouts]).
//
// # Sending
//
// A frame is written into the connection's netpoll Writer: Send and
// Conn.Send Malloc header+payload there and copy once, like a hand-written
// netpoll server. Slots from Permit.Alloc / Conn.Alloc are pool buffers
// copied into the Writer at Commit: holding the Writer from Alloc to
// Commit would deadlock a goroutine holding two slots and stall every
// other sender behind a slow one, and netpoll has no way to take back a
// Malloc'd region once another follows it (MallocAck only truncates the
// tail). So Discard and Permit.Release only return a pool buffer; nothing
// half-written can be flushed (r[link.tx.discard]).
//
// netpoll's Flush publishes what was Malloc'd, writes what the socket
// takes and, when the socket is full, blocks until its poller has written
// the rest. Commit must never wait for the network, so Flush runs in one
// short-lived flusher goroutine per connection, started when there is
// output and none runs (for replies: once, at the end of each OnRequest
// batch). While it runs, new frames are Malloc'd into a second LinkBuffer
// that the flusher splices behind the Writer (Append, no copy) before its
// next Flush: frames committed during a write leave together in one
// sendmsg (r[link.tx.coalesce]), a lone frame leaves at once. The byte
// budget counts bytes from Commit until the Flush that carried them
// returned, i.e. until netpoll handed them to the kernel.
//
// # Backpressure
//
// Pull links: Reserve and Send block while the budget is above the
// high-water mark, until it falls under the low-water mark
// (r[link.tx.backpressure]).
//
// Served connections: netpoll cannot stop reading a connection. Its
// poller reads every readable socket into the connection's input buffer
// (there is no API to pause it), and an OnRequest that leaves input unread
// is called again at once. Blocking OnRequest until the output drains
// would only move the growth to netpoll's input buffer. So, as
// r[serve.reply] allows, a frame committed on a connection whose output is
// already above the high-water mark is refused with ErrOutputOverflow and
// the connection is closed with that error: a peer that sends without
// reading costs at most the high-water mark plus the frame that crossed
// it. A single frame larger than the mark is still sent.
//
// The same poller behaviour limits netpoll as a receiver: a pull link
// buffers whatever its peer sends whether or not Recv is called, so a
// netpoll receiver never makes its sender block (the sender's own budget
// is honest; it is the receiver's memory that grows). And netpoll treats a
// peer's half-close (EPOLLRDHUP) as the end of the connection, so a
// netpoll link cannot send after it read io.EOF. The conformance tests
// skip exactly these cases, with the reason, and check the netpoll sender
// against a non-reading netstd link and a raw socket instead.
//
// # Idle connections
//
// No goroutine and no framelink buffer is held by an idle connection
// (r[perf.idle]): a few hundred bytes of state. netpoll itself keeps a
// 4 KiB input node, a 4 KiB output node and a 1.3 KiB iovec array per
// connection, which only its process-wide Configure(BufferSize) could
// change, so an idle framelink connection costs netpoll's own footprint
// plus that state (BenchmarkIdleConns).
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
// the dial, and Unix sockets work), then move the socket to netpoll. Recv
// reads with netpoll's blocking Reader and copies each payload into a
// pooled buffer owned by the Frame. netpoll's blocking reads cannot be
// interrupted by a context, so a Recv with a context that can end waits
// through a helper goroutine; if ctx ends first the helper's frame is
// returned by the next Recv, never lost.
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
