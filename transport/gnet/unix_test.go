//go:build unix

package gnet

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/framelink/framelink"
)

// Serve, Listen and Dial work over Unix sockets too.
// r[verify transport.gnet]
func TestUnixSocket(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "s")
	s, err := Serve("unix", path, framelink.EchoHandler{}, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	if s.Addr().Network() != "unix" {
		t.Fatalf("Addr %v", s.Addr())
	}
	l, err := Dial(ctx, "unix", path, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := bytes.Repeat([]byte("u"), 100_000)
	if err := l.Tx().Send(ctx, p); err != nil {
		t.Fatal(err)
	}
	f, err := l.Rx().Recv(ctx)
	if err != nil || !bytes.Equal(f.Bytes(), p) {
		t.Fatalf("%v, %d bytes", err, f.Len())
	}
	f.Release()
}
