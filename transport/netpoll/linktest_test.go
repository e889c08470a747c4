package netpoll

import (
	"net"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
)

// Skip for a netpoll link on the receiving end, a netpoll limitation
// documented in the package doc: netpoll treats the peer's half-close
// (EPOLLRDHUP) as the end of the connection, so a netpoll link cannot send
// after reading EOF. (The cases that need a receiver that stops reading
// pass: a netpoll link switches netpoll's reads off once its Recv queue is
// full; see readswitch_linux.go.)
var netpollReceiverSkips = []linktest.Option{
	linktest.Skip("TxClose/HalfClose", "netpoll closes a connection when the peer half-closes (EPOLLRDHUP), so it cannot send after EOF"),
}

// r[verify transport.netpoll] r[verify serve.pull] r[verify conformance.suite]
func TestLinktest(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			opts := append([]linktest.Option{linktest.IgnoreGoroutines(ignoreNetpoll...)}, netpollReceiverSkips...)
			linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
				return pullPair(t, network, o)
			}, opts...)
		})
	}
}

// r[verify wire.frame] r[verify wire.max] r[verify wire.truncated] r[verify wire.eof]
func TestLinktestRaw(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			linktest.RunRaw(t, func(t *testing.T, o framelink.Options) (framelink.Link, net.Conn) {
				return rawPair(t, network, o)
			}, linktest.IgnoreGoroutines(ignoreNetpoll...))
		})
	}
}
