//go:build !linux && !windows

package netpoll

// unacked is unknown outside Linux: a lingering close ends with the
// peer's close or Shutdown's context.
func unacked(int) int { return -1 }
