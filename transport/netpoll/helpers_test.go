package netpoll

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// frame encodes p independently of codec: [u32 LE len][p].
func frame(p []byte) []byte {
	b := make([]byte, 4+len(p))
	binary.LittleEndian.PutUint32(b, uint32(len(p)))
	copy(b[4:], p)
	return b
}

// readFrame decodes one frame from r independently of codec.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

func payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

// closeEvent is what a recorder saw in OnClose.
type closeEvent struct {
	c   framelink.Conn
	err error
}

// recorder is a Handler that echoes (unless frame is set) and records
// opens and closes.
type recorder struct {
	frame  func(c framelink.Conn, p []byte)
	opened chan framelink.Conn
	closed chan closeEvent
}

func newRecorder(frame func(c framelink.Conn, p []byte)) *recorder {
	return &recorder{frame: frame, opened: make(chan framelink.Conn, 1024), closed: make(chan closeEvent, 1024)}
}

func (r *recorder) OnOpen(c framelink.Conn) { r.opened <- c }
func (r *recorder) OnFrame(c framelink.Conn, p []byte) {
	if r.frame != nil {
		r.frame(c, p)
		return
	}
	_ = c.Send(p)
}
func (r *recorder) OnClose(c framelink.Conn, err error) { r.closed <- closeEvent{c, err} }

// waitClose waits for the next OnClose.
func (r *recorder) waitClose(t *testing.T) closeEvent {
	t.Helper()
	select {
	case ev := <-r.closed:
		return ev
	case <-time.After(testTimeout):
		t.Fatal("no OnClose")
		return closeEvent{}
	}
}

// serve starts Serve on 127.0.0.1:0 (or a Unix socket) and shuts it down
// at cleanup.
func serve(t testing.TB, network string, h framelink.Handler, o framelink.Options) framelink.Server {
	t.Helper()
	s, err := Serve(network, listenAddr(t, network), h, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func dialRaw(t testing.TB, s framelink.Server) net.Conn {
	t.Helper()
	c, err := net.Dial(s.Addr().Network(), s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// echoCheck sends frames of the given sizes on c (in one write) and checks
// that each comes back unchanged, in order.
func echoCheck(c net.Conn, sizes []int, seed byte) error {
	var out bytes.Buffer
	want := make([][]byte, len(sizes))
	for i, n := range sizes {
		want[i] = payload(n, seed+byte(i))
		out.Write(frame(want[i]))
	}
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, werr = c.Write(out.Bytes())
	}()
	defer wg.Wait()
	for i := range sizes {
		got, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if !bytes.Equal(got, want[i]) {
			return fmt.Errorf("frame %d: %d bytes came back, want %d, or different bytes", i, len(got), len(want[i]))
		}
	}
	wg.Wait()
	return werr
}

// tcpConns returns both ends of a TCP connection on 127.0.0.1: nc, for
// toNetpoll (which owns it from then on), and the plain peer, closed at
// cleanup.
func tcpConns(t *testing.T) (nc, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err = ln.Accept()
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return nc, peer
}
