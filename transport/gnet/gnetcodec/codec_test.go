//go:build unix

package gnetcodec

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }

// app is an "existing" gnet handler: its own Context per connection (a
// counter), its own options; the codec adds framing in a few lines.
type app struct {
	gnet.BuiltinEventEngine
	codec  *Codec
	eng    gnet.Engine
	booted chan struct{}
	closed chan error
}

type session struct{ frames int }

func (a *app) OnBoot(e gnet.Engine) gnet.Action { a.eng = e; close(a.booted); return gnet.None }

func (a *app) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&session{})
	return nil, gnet.None
}

func (a *app) OnTraffic(c gnet.Conn) gnet.Action {
	s := c.Context().(*session)
	err := a.codec.Decode(c, func(p []byte) error {
		s.frames++
		switch {
		case bytes.Equal(p, []byte("pair")):
			return a.codec.Writev(c, []byte("one"), []byte("two"))
		case bytes.Equal(p, []byte("async")):
			go a.codec.AsyncWrite(c, []byte("later"), nil)
			return nil
		}
		return a.codec.Write(c, p)
	})
	if err != nil {
		a.closed <- err
		return gnet.Close
	}
	return gnet.None
}

func (a *app) OnClose(c gnet.Conn, err error) gnet.Action {
	if a.codec.Pending(c) {
		a.closed <- io.ErrUnexpectedEOF
	}
	return gnet.None
}

func start(t *testing.T) (*app, string) {
	t.Helper()
	return startTB(t)
}

func startTB(t testing.TB) (*app, string) {
	t.Helper()
	a := &app{codec: New(1 << 20), booted: make(chan struct{}), closed: make(chan error, 8)}
	done := make(chan error, 1)
	go func() { done <- gnet.Run(a, "tcp://127.0.0.1:0", gnet.WithMulticore(true)) }()
	select {
	case <-a.booted:
	case err := <-done:
		t.Fatal(err)
	}
	fd, err := a.eng.Dup()
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	unix.Close(fd)
	port := sa.(*unix.SockaddrInet4).Port
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		a.eng.Stop(ctx)
		<-done
	})
	return a, net.JoinHostPort("127.0.0.1", itoa(port))
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func frame(p []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
	return append(b, p...)
}

func readFrame(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, binary.LittleEndian.Uint32(h[:]))
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// Frames split at every byte, many per write, and larger than gnet's read
// buffer all come back whole and in order.
// r[verify transport.gnet.embed]
func TestDecodeWrite(t *testing.T) {
	_, addr := start(t)
	c := dial(t, addr)
	var all []byte
	var want [][]byte
	for i := range 300 {
		n := i * 13
		if i%100 == 99 {
			n = 200_000
		}
		p := bytes.Repeat([]byte{byte(i)}, n)
		want = append(want, p)
		all = append(all, frame(p)...)
	}
	go func() {
		for len(all) > 0 {
			k := min(len(all), 1+len(all)%5003)
			c.Write(all[:k])
			all = all[k:]
		}
	}()
	for i, w := range want {
		if got := readFrame(t, c); !bytes.Equal(got, w) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(w))
		}
	}
	c.Write(frame([]byte("pair")))
	if got := readFrame(t, c); string(got) != "one" {
		t.Fatalf("%q", got)
	}
	if got := readFrame(t, c); string(got) != "two" {
		t.Fatalf("%q", got)
	}
	c.Write(frame([]byte("async")))
	if got := readFrame(t, c); string(got) != "later" {
		t.Fatalf("%q", got)
	}
}

// r[verify transport.gnet.embed] r[verify wire.max]
func TestDecodeOversize(t *testing.T) {
	a, addr := start(t)
	c := dial(t, addr)
	c.Write([]byte{1, 0, 0x10, 0, 'x'}) // declares 1 MiB + 1, the limit is 1 MiB
	err := <-a.closed
	if !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("Decode: %v, want ErrFrameTooLarge", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after an oversize header")
	}
}
