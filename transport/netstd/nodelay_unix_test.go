//go:build unix

package netstd

import (
	"syscall"
	"testing"
)

func noDelay(t *testing.T, rc syscall.RawConn) bool {
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return v != 0
}
