package netstd

import (
	"net"
	"syscall"
	"unsafe"
)

// unacked returns a function reporting how many bytes nc has sent that
// the peer has not yet taken: for TCP, bytes (and the FIN) not yet
// acknowledged by the peer's kernel; for a Unix socket, bytes the peer
// has not read. It returns nil where the OS cannot tell. Used by
// lingerClose only, from the serving goroutine.
func unacked(nc net.Conn) func() int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() int {
		n := -1
		_ = rc.Control(func(fd uintptr) {
			var v int32 // SIOCOUTQ is TIOCOUTQ's value on Linux
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); e == 0 {
				n = int(v)
			}
		})
		return n
	}
}
