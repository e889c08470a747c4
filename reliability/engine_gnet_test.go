package reliability

import (
	"go.uber.org/goleak"

	"github.com/framelink/framelink/transport/gnet"
)

func init() {
	register(&engine{
		name: "gnet", dial: gnet.Dial, listen: gnet.Listen, serve: gnet.Serve,
		// gnet closes a connection on the peer's half-close (see
		// transport/gnet's doc, "Other gnet limits").
		halfCloseEndsConn: true,
		// gnet's process-wide default worker pool (ants), started on
		// first use and never stopped.
		ignore: []goleak.Option{
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		},
		warm: warmEngine,
		bugs: map[string]string{
			bugCloseResets: "Tx.Close on a Dial link while other goroutines are still sending: now and then a frame whose Commit returned nil is written after the engine's shutdown(SHUT_WR), the write fails with EPIPE, the link dies on that error and closes the socket with unread input (a reset): the frame and every echo are lost, the peer's shutdown fails with ENOTCONN and Recv returns 'write: broken pipe' (about 1 connection in 150; TestFaultCloseRacingSenders, loss matrix gnet-to-netstd-* in a soak)",
		},
	})
}
