//go:build unix

package gnet

import (
	"context"
	"fmt"
	"net"
	"sync"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
)

// The client engine is shared: every Dial enrolls its connection in one
// gnet.Client (one event loop per CPU), started by the first Dial and
// stopped, goroutines and all, when the last dialed link is closed. One
// engine per Dial would cost each link an event-loop goroutine, an epoll
// and an eventfd descriptor and a 64 KiB read buffer; sharing costs those
// once. It holds no settings: every link keeps its own Options.
var (
	clientMu   sync.Mutex
	client     *gn.Client
	clientEng  *engine
	clientRefs int
)

// Dial connects to addr on network ("tcp", "tcp4", "tcp6" or "unix") and
// returns a link served by the shared gnet client engine (r[serve.pull]).
// ctx bounds the connection attempt only.
// r[impl serve.pull]
func Dial(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, err
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, fmt.Errorf("framelink/gnet: unsupported network %q", network)
	}
	e, cli, err := acquireClient()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		releaseClient(e)
		return nil, err
	}
	c := newConn(e, &o, true)
	// EnrollContext dups the descriptor (TCP_NODELAY set, gnet's default),
	// closes nc, and returns after OnOpen ran on the loop.
	if _, err := cli.EnrollContext(nc, c); err != nil {
		releaseClient(e)
		return nil, err
	}
	return (*pullLink)(c), nil
}

func acquireClient() (*engine, *gn.Client, error) {
	clientMu.Lock()
	defer clientMu.Unlock()
	if client == nil {
		e := newEngine(framelink.Options{}, nil, true)
		cli, err := gn.NewClient(e,
			gn.WithMulticore(true),
			gn.WithTicker(true),
			gn.WithTCPNoDelay(gn.TCPNoDelay),
			gn.WithLogger(quietLogger{}))
		if err != nil {
			return nil, nil, err
		}
		if err := cli.Start(); err != nil {
			return nil, nil, err
		}
		client, clientEng = cli, e
	}
	clientRefs++
	return clientEng, client, nil
}

// releaseClient drops one reference; the last one stops the engine and
// waits for its loops.
func releaseClient(e *engine) {
	clientMu.Lock()
	defer clientMu.Unlock()
	if e != clientEng {
		return
	}
	clientRefs--
	if clientRefs == 0 {
		_ = client.Stop()
		client, clientEng = nil, nil
	}
}
