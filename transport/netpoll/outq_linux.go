package netpoll

import (
	"syscall"
	"unsafe"
)

// unacked returns how many bytes sent on fd the peer has not taken yet
// (TCP: not acknowledged, FIN included; Unix sockets: not read), or -1.
func unacked(fd int) int {
	var v int32 // SIOCOUTQ has TIOCOUTQ's value on Linux
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); e != 0 {
		return -1
	}
	return int(v)
}
