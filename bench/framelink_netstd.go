//go:build framelink_netstd || framelink_all

// Registration of framelink's netstd engine. The build constraint keeps the
// bench compiling while transport/netstd has no Serve yet; once it has one,
// delete the //go:build line (or run with -tags framelink_netstd, or
// -tags framelink_all for every engine). See README.md.

package main

import (
	"github.com/framelink/framelink"
	flnetstd "github.com/framelink/framelink/transport/netstd"
)

func init() {
	register("netstd", kindFramelink, func(addr string) (framelink.Server, error) {
		return flnetstd.Serve("tcp", addr, framelink.EchoHandler{}, flOptions)
	})
}
