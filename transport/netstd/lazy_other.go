//go:build !unix

package netstd

import (
	"io"
	"net"
)

// lazySource returns c itself: the RawConn read that keeps idle
// connections free of read buffers is Unix-only.
func lazySource(c net.Conn) io.Reader { return c }
