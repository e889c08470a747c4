//go:build framelink_gnet || framelink_all

// Registration of framelink's gnet engine. The build constraint keeps the
// bench compiling while transport/gnet has no Serve yet; once it has one,
// delete the //go:build line (or run with -tags framelink_gnet, or
// -tags framelink_all for every engine). See README.md.

package main

import (
	"github.com/framelink/framelink"
	flgnet "github.com/framelink/framelink/transport/gnet"
)

func init() {
	register("gnet", kindFramelink, func(addr string) (framelink.Server, error) {
		return flgnet.Serve("tcp", addr, framelink.EchoHandler{}, flOptions)
	})
}
