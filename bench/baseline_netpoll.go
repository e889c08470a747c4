//go:build unix

package main

// BASELINE: a hand-written echo server on cloudwego/netpoll, with no
// framework (internal/bareecho.Netpoll). It is what framelink's netpoll
// engine is measured against.

import "github.com/framelink/framelink/internal/bareecho"

func init() { register("netpoll", kindBaseline, bareStart(bareecho.StartNetpoll)) }
