package main

import (
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/netstd"
)

func init() {
	register("netstd", func(addr string, o framelink.Options) (framelink.Server, error) {
		return netstd.Serve("tcp", addr, framelink.BatchEchoHandler{}, o)
	})
}
