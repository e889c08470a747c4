package reliability

import "github.com/framelink/framelink/transport/netstd"

func init() {
	register(&engine{name: "netstd", dial: netstd.Dial, listen: netstd.Listen, serve: netstd.Serve,
		shutdownKeepsEchoes: true,
	})
}
