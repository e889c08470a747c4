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
		halfCloseEndsConn:   true,
		shutdownKeepsEchoes: true,
		// gnet's process-wide default worker pool (ants), started on
		// first use and never stopped.
		ignore: []goleak.Option{
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
			goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		},
		warm: warmEngine,
		bugs: map[string]string{},
	})
}
