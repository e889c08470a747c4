package netstd

import (
	"context"

	"github.com/framelink/framelink"
)

// ListenLocal listens for LocalLink connections under name: a Unix socket
// on Linux and macOS, a named pipe on Windows (see LocalPath). The caller
// owns the Listener and the links it accepts. On Unix a socket file left
// by a listener that is gone is replaced; to tell, ListenLocal connects to
// it once, so a live listener under the same name sees one empty
// connection (and ListenLocal fails with EADDRINUSE).
// r[impl transport.local]
func ListenLocal(name string, o framelink.Options) (framelink.Listener, error) {
	if _, err := o.Normalize(); err != nil {
		return nil, err
	}
	ln, err := listenLocal(name)
	if err != nil {
		return nil, err
	}
	return NewListener(ln, o), nil
}

// DialLocal connects to the LocalLink listener under name and returns a
// link that the caller owns. ctx bounds the connection attempt only.
func DialLocal(ctx context.Context, name string, o framelink.Options) (framelink.Link, error) {
	return (&Dialer{Network: "local", Addr: name, Options: o}).Dial(ctx)
}
