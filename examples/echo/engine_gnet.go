//go:build unix

package main

import (
	"github.com/framelink/framelink"
	flgnet "github.com/framelink/framelink/transport/gnet"
)

// gnet: framelink.BatchEchoHandler on transport/gnet's event loops (one per CPU
// with -multicore, the default).
func init() {
	register("gnet", func(addr string, o framelink.Options) (framelink.Server, error) {
		return flgnet.Serve("tcp", addr, framelink.BatchEchoHandler{}, o)
	})
}
