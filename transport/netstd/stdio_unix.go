//go:build unix

package netstd

import (
	"os"
	"syscall"
)

// pollableFile returns a pollable *os.File for f's descriptor if it is a
// pipe or a socket (switched to non-blocking mode), else f.
func pollableFile(f *os.File) *os.File {
	rc, err := f.SyscallConn()
	if err != nil {
		return f
	}
	out := f
	_ = rc.Control(func(fd uintptr) {
		var st syscall.Stat_t
		if syscall.Fstat(int(fd), &st) != nil {
			return
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFIFO, syscall.S_IFSOCK:
		default:
			return
		}
		if syscall.SetNonblock(int(fd), true) != nil {
			return
		}
		// NewFile registers a non-blocking descriptor with the poller.
		out = os.NewFile(fd, f.Name())
	})
	return out
}
