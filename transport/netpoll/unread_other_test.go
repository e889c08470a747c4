//go:build !linux && !windows

package netpoll

// unread is Linux only (SIOCINQ); the tests that need it skip elsewhere.
func unread(int) int { return -1 }
