//go:build linux || darwin

package main

import (
	"github.com/framelink/framelink"
	flnetpoll "github.com/framelink/framelink/transport/netpoll"
)

// netpoll: framelink.BatchEchoHandler on a transport/netpoll EventLoop
// (netpoll's shared pollers, left at their defaults).
func init() {
	register("netpoll", func(addr string, o framelink.Options) (framelink.Server, error) {
		return flnetpoll.Serve("tcp", addr, framelink.BatchEchoHandler{}, o)
	})
}
