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
// and link; tests ignore them in goleak (see IgnoreGoroutines).
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
// copied into the Writer at Commit (holding the Writer from Alloc to Commit
// would deadlock a goroutine holding two slots, and a Malloc'd region
// cannot be taken back once another follows it), so Discard and Release
// only return a pool buffer. Flushing is done by one short-lived flusher
// goroutine per connection, started when there is output and none runs,
// at the end of each OnRequest batch for replies: netpoll's Flush blocks
// until its poller has written everything when the socket is full, and
// Commit must never wait for the network. Frames committed during a flush
// are queued and leave together in the next one (r[link.tx.coalesce]).
// The byte budget counts bytes from Commit until the Flush that carried
// them returned, i.e. until they are in the kernel.
//
// # Backpressure
//
// Pull links: Reserve and Send block while the budget is above the
// high-water mark (r[link.tx.backpressure]).
//
// Served connections: netpoll cannot stop reading a connection (there is
// no API to pause its poller, and unread input makes it call OnRequest in
// a loop). So, as r[serve.reply] allows, a connection whose output passes
// the high-water mark is closed with ErrOutputOverflow instead of being
// paused: a peer that sends without reading costs at most the high-water
// mark plus one frame per sender.
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
