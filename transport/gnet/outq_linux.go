//go:build linux

package gnet

import "golang.org/x/sys/unix"

// unacked reports the bytes sent on fd that the peer has not taken yet:
// for TCP, bytes (and the FIN) its kernel has not acknowledged; for a
// Unix socket, bytes it has not read. ok is false where the OS cannot
// tell. Used during Server.Shutdown (shutdown.go).
func unacked(fd int) (n int, ok bool) {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	return n, err == nil
}
