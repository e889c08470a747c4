package reliability

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// Helpers for peers that speak raw bytes.

// header returns the 4 header bytes declaring n.
func header(n uint32) []byte {
	var h [4]byte
	binary.LittleEndian.PutUint32(h[:], n)
	return h[:]
}

// encode returns the wire bytes of frames.
func encode(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = codec.AppendFrame(b, f)
	}
	return b
}

// readFrame reads one frame from r (no limit: the test trusts the link).
func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("raw peer read a header of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, fmt.Errorf("payload of %d bytes: %w", n, err)
	}
	return p, nil
}

// readFrames reads frames from r until a read fails, and returns them and
// that error.
func readFrames(r io.Reader) ([][]byte, error) {
	var got [][]byte
	for {
		p, err := readFrame(r)
		if err != nil {
			return got, err
		}
		got = append(got, p)
	}
}

// expectFrames reads len(want) frames from c and compares them.
func expectFrames(t *testing.T, c net.Conn, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		got, err := readFrame(c)
		if err != nil {
			t.Fatalf("raw peer: frame %d of %d: %v", i+1, len(want), err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("raw peer: frame %d is %d bytes %x, want %d bytes %x", i+1, len(got), head(got), len(w), head(w))
		}
	}
}

// expectClosed reads from c until the peer closes it and returns what
// ended the read: io.EOF (a FIN) or a reset. A read timeout (the hang
// detector) fails the test: the connection was not closed.
func expectClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hangLimit))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("raw peer: the connection was not closed within %v", hangLimit)
		}
		return err
	}
}

// resetErr reports whether err is a connection reset or broken pipe.
func resetErr(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// inTaxonomy reports whether err is one of the errors the contract lets a
// link or handler report (r[link.errors]).
func inTaxonomy(err error) bool {
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, framelink.ErrFrameTooLarge, framelink.ErrClosed, os.ErrDeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	var se syscall.Errno
	return errors.As(err, &se) || resetErr(err)
}

// rawListen listens on loopback for a raw peer that a link dials.
func rawListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptRaw accepts one connection on ln, bounded by the hang limit.
func acceptRaw(t *testing.T, ln net.Listener) *net.TCPConn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(hangLimit))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("raw accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hangLimit))
	return c.(*net.TCPConn)
}

// rawDialErr dials addr and returns the error instead of failing.
func rawDialErr(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, hangLimit)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
