//go:build windows

package netstd

import (
	"context"
	"net"
	"strings"

	"github.com/Microsoft/go-winio"
)

// LocalPath returns the OS address of LocalLink name: on Windows, a named
// pipe (\\.\pipe\NAME unless name already starts with \\); on Unix, a
// socket path (see the Unix build).
func LocalPath(name string) string {
	if strings.HasPrefix(name, `\\`) {
		return name
	}
	return `\\.\pipe\` + name
}

func listenLocal(name string) (net.Listener, error) {
	return winio.ListenPipe(LocalPath(name), nil)
}

func dialLocal(ctx context.Context, name string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, LocalPath(name))
}
