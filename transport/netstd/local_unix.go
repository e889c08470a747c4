//go:build !windows

package netstd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LocalPath returns the OS address of LocalLink name: on Unix, name
// itself if it contains a slash, else a socket in os.TempDir()
// ("framelink-NAME.sock"); on Windows, a named pipe
// (\\.\pipe\NAME unless name already starts with \\).
func LocalPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return filepath.Join(os.TempDir(), "framelink-"+name+".sock")
}

// listenLocal listens on the socket for name. A socket file left behind
// by a process that died (nobody accepts on it) is removed and replaced;
// a live listener is never taken over.
func listenLocal(name string) (net.Listener, error) {
	path := LocalPath(name)
	ln, err := net.Listen("unix", path)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	c, derr := net.Dial("unix", path)
	if derr == nil {
		c.Close()
		return nil, err // someone is listening
	}
	if !errors.Is(derr, syscall.ECONNREFUSED) {
		return nil, err
	}
	if rerr := os.Remove(path); rerr != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}

func dialLocal(ctx context.Context, name string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", LocalPath(name))
}
