//go:build unix

// Registration of framelink's netstd engine: framelink.BatchEchoHandler served
// by transport/netstd.Serve, beside the hand-written baseline_netstd.go.

package main

import (
	"github.com/framelink/framelink"
	flnetstd "github.com/framelink/framelink/transport/netstd"
)

func init() {
	register("netstd", kindFramelink, func(addr string) (framelink.Server, error) {
		return flnetstd.Serve("tcp", addr, framelink.BatchEchoHandler{}, flOptions)
	})
}
