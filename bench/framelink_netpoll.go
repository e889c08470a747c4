//go:build unix

// Registration of framelink's netpoll engine: framelink.BatchEchoHandler served
// by transport/netpoll.Serve, beside the hand-written baseline_netpoll.go.

package main

import (
	"github.com/framelink/framelink"
	flnetpoll "github.com/framelink/framelink/transport/netpoll"
)

func init() {
	register("netpoll", kindFramelink, func(addr string) (framelink.Server, error) {
		return flnetpoll.Serve("tcp", addr, framelink.BatchEchoHandler{}, flOptions)
	})
}
