package netpoll

import (
	"net"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
)

// Skips for a netpoll link on the receiving end, both netpoll limitations
// documented in the package doc:
//   - netpoll's poller reads every readable socket into user memory
//     whether or not anyone calls Recv, so a netpoll receiver never lets
//     its sender's kernel buffers fill: the sender's Reserve (on any
//     engine) does not block while the receiver "does not read". The
//     netpoll sender's own backpressure is checked against a non-reading
//     netstd peer (TestLinktestInterop) and a raw socket
//     (TestBackpressureRawPeer).
//   - netpoll treats the peer's half-close (EPOLLRDHUP) as the end of the
//     connection, so a netpoll link cannot send after reading EOF.
var netpollReceiverSkips = []linktest.Option{
	linktest.Skip("Tx/Backpressure", "a netpoll receiver reads the socket into memory whether or not Recv is called, so the sender never sees the receiver stop reading"),
	linktest.Skip("Tx/Cancel", "needs a receiver that stops reading; netpoll's poller always reads"),
	linktest.Skip("Tx/CommitWhileBlocked", "needs a receiver that stops reading; netpoll's poller always reads"),
	linktest.Skip("TxClose/PendingReserve", "needs a receiver that stops reading; netpoll's poller always reads"),
	linktest.Skip("Close/Pending", "needs a receiver that stops reading; netpoll's poller always reads"),
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
