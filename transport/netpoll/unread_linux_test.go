package netpoll

import "golang.org/x/sys/unix"

// unread returns how many bytes the kernel holds unread on fd, or -1.
func unread(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return -1
	}
	return n
}
