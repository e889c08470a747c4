//go:build framelink_netpoll || framelink_all

// Registration of framelink's netpoll engine. The build constraint keeps the
// bench compiling while transport/netpoll has no Serve yet; once it has one,
// delete the //go:build line (or run with -tags framelink_netpoll, or
// -tags framelink_all for every engine). See README.md.

package main

import (
	"github.com/framelink/framelink"
	flnetpoll "github.com/framelink/framelink/transport/netpoll"
)

func init() {
	register("netpoll", kindFramelink, func(addr string) (framelink.Server, error) {
		return flnetpoll.Serve("tcp", addr, framelink.EchoHandler{}, flOptions)
	})
}
