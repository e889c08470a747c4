//go:build !linux

package netstd

import "net"

// unacked is unknown outside Linux: lingerClose waits for the peer's
// close or Shutdown's context.
func unacked(net.Conn) func() int { return nil }
