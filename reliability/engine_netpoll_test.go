package reliability

import (
	"go.uber.org/goleak"

	"github.com/framelink/framelink/transport/netpoll"
)

func init() {
	register(&engine{
		name:   "netpoll",
		dial:   netpoll.Dial,
		listen: netpoll.Listen,
		serve:  netpoll.Serve,
		// netpoll's process-wide pollers and worker pool, created on
		// first use and never stopped (transport/netpoll's doc).
		ignore: []goleak.Option{
			goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
			goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
			goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).onhups.func1"),
		},
		// Served connections cannot be paused: over HighWater they are
		// closed with ErrOutputOverflow (r[serve.reply]).
		noPause: true,
		// netpoll closes a connection when the peer shuts its write side
		// down (measured by TestFaultHalfClose: echoes in flight are cut,
		// and a link cannot send after the peer's Tx.Close).
		halfCloseEndsConn: true,
		warm:              warmEngine,
		bugs: map[string]string{
			bugUnboundedRecv: "a link (Dial or Accept) whose application does not call Recv buffers all input: 256 MiB written by a peer cost 256 MiB of heap (TestStalledPeer/receiver, TestStalledPeer/server/netpoll-pull)",
			bugCloseRecvRace: "Link.Close while another goroutine is in Recv (a context that can end) races: Recv's helpers.Add(1) against Close's helpers.Wait() (transport/netpoll/recv.go:68, link.go:99), reported by -race (TestFaultCloseDuringRecv; TestFaultClientKilled/abrupt-close/netpoll-*)",
			bugRawSendError:  "a Send racing the peer's disappearance can fail with netpoll's own ErrConnClosed (\"no such file or directory when flush\"), which matches neither framelink.ErrClosed nor EPIPE/ECONNRESET (r[link.errors]; TestFaultClientKilled/abrupt-close)",
		},
	})
}
