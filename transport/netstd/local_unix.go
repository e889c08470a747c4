//go:build !windows

package netstd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
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

func listenLocal(name string) (net.Listener, error) {
	return net.Listen("unix", LocalPath(name))
}

func dialLocal(ctx context.Context, name string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", LocalPath(name))
}
