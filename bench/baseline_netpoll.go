//go:build unix

package main

// BASELINE: a hand-written echo server on cloudwego/netpoll, with no
// framework (internal/bareecho.Netpoll). It is what framelink's netpoll
// engine is measured against.

import (
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/internal/bareecho"
)

func init() { register("netpoll", kindBaseline, startBaselineNetpoll) }

func startBaselineNetpoll(addr string) (framelink.Server, error) {
	s, err := bareecho.StartNetpoll("tcp", addr)
	if err != nil {
		return nil, err // an untyped nil Server, not a nil *Netpoll
	}
	return s, nil
}
