//go:build unix

// Registration of framelink's gnet engine: framelink.BatchEchoHandler served
// by transport/gnet.Serve, beside the hand-written baseline_gnet.go.

package main

import (
	"github.com/framelink/framelink"
	flgnet "github.com/framelink/framelink/transport/gnet"
)

func init() {
	register("gnet", kindFramelink, func(addr string) (framelink.Server, error) {
		return flgnet.Serve("tcp", addr, framelink.BatchEchoHandler{}, flOptions)
	})
}
