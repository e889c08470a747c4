package netpoll

import (
	"context"
	"errors"
	"net"

	"github.com/framelink/framelink"
)

// errUnsupported is returned by every constructor on Windows, where
// cloudwego/netpoll has no poller.
var errUnsupported = errors.New("framelink/netpoll: netpoll does not support windows")

// Dial is not supported on Windows.
func Dial(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error) {
	return nil, errUnsupported
}

// Listen is not supported on Windows.
func Listen(network, addr string, o framelink.Options) (framelink.Listener, error) {
	return nil, errUnsupported
}

// NewLink is not supported on Windows.
func NewLink(nc net.Conn, o framelink.Options) (framelink.Link, error) { return nil, errUnsupported }

// Serve is not supported on Windows.
func Serve(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error) {
	return nil, errUnsupported
}
