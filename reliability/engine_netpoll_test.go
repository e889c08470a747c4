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
		// Served connections whose output is over HighWater pause with
		// netpoll's reads of the socket switched off (transport/netpoll's
		// readSwitch, Linux), so a peer that never reads is held off by
		// the TCP window, as on the other engines.
		// Shutdown half-closes once the output is flushed and closes once
		// the peer has acknowledged it all (transport/netpoll server.linger).
		shutdownKeepsEchoes: true,
		// netpoll closes a connection when the peer shuts its write side
		// down (measured by TestFaultHalfClose: echoes in flight are cut,
		// and a link cannot send after the peer's Tx.Close).
		halfCloseEndsConn: true,
		warm:              warmEngine,
		// A pull link whose application stops calling Recv switches
		// netpoll's reads of the socket off (transport/netpoll's
		// readSwitch), so it pauses like the other engines.
	})
}
