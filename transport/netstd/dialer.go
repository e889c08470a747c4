package netstd

import (
	"context"
	"net"

	"github.com/framelink/framelink"
)

// Dialer yields a fresh link per Dial, for clients that reconnect
// (r[transport.dialer]). The zero value plus an Addr dials TCP with
// TCP_NODELAY on. A Dialer is safe for concurrent use once set up; do not
// change its fields while Dial runs.
// r[impl transport.dialer]
type Dialer struct {
	// Network is "tcp" (the default when empty), "tcp4", "tcp6", "unix",
	// or "local" for LocalLink (Unix socket or Windows named pipe; Addr is
	// a name, see LocalPath).
	Network string
	// Addr is the address to dial.
	Addr string
	// Options configure each link.
	Options framelink.Options
	// DisableNoDelay turns Nagle's algorithm back on for TCP (TCP_NODELAY
	// off). By default TCP_NODELAY is on: frames leave at once.
	DisableNoDelay bool
	// Net dials TCP and Unix connections: timeouts, keep-alive, local
	// address. Its zero value is fine.
	Net net.Dialer
}

// Dial connects and returns a new link that the caller owns (Close it).
// ctx bounds the connection attempt only.
func (d *Dialer) Dial(ctx context.Context) (framelink.Link, error) {
	o, err := d.Options.Normalize()
	if err != nil {
		return nil, err
	}
	network := d.Network
	if network == "" {
		network = "tcp"
	}
	var c net.Conn
	if network == "local" {
		c, err = dialLocal(ctx, d.Addr)
	} else {
		c, err = d.Net.DialContext(ctx, network, d.Addr)
	}
	if err != nil {
		return nil, err
	}
	lk, err := NewLink(c, o)
	if err != nil {
		c.Close()
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok && d.DisableNoDelay {
		_ = tc.SetNoDelay(false)
	}
	return lk, nil
}
