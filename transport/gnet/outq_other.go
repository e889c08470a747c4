//go:build unix && !linux

package gnet

// unacked is unknown outside Linux: a connection at Server.Shutdown
// lingers until the peer closes or Shutdown's context ends.
func unacked(int) (int, bool) { return 0, false }
