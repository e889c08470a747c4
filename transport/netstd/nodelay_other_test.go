//go:build !unix

package netstd

import (
	"syscall"
	"testing"
)

// noDelay is only checked on Unix.
func noDelay(t *testing.T, rc syscall.RawConn) bool { return true }
