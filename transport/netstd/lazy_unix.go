//go:build unix

package netstd

import (
	"io"
	"net"
	"os"
	"syscall"

	"github.com/framelink/framelink/pool"
)

// lazySource returns the source a link's codec.Reader reads c through. For
// TCP and Unix connections it is a codec.LazySource over syscall.RawConn
// that takes a read buffer only once input is ready, so an idle link
// holds none (r[perf.idle]); other connections are read as they are.
func lazySource(c net.Conn) io.Reader {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	s := &rawSource{c: c, rc: rc}
	s.onReadable = s.readable
	return s
}

// rawSource reads a connection with read(2) inside RawConn.Read. Its
// fields hold one ReadLazy call's state, so no closure is allocated per
// read. It is used by one goroutine at a time (the codec.Reader's).
type rawSource struct {
	c          net.Conn
	rc         syscall.RawConn
	onReadable func(fd uintptr) bool

	get  func() []byte
	buf  []byte
	n    int
	rerr error
}

// Read is a plain read, used for the rest of a frame larger than the
// read buffer.
func (s *rawSource) Read(p []byte) (int, error) { return s.c.Read(p) }

// ReadLazy implements codec.LazySource.
// r[impl perf.idle]
func (s *rawSource) ReadLazy(get func() []byte) ([]byte, int, error) {
	s.get, s.buf, s.n, s.rerr = get, nil, 0, nil
	err := s.rc.Read(s.onReadable)
	buf, n := s.buf, s.n
	s.get, s.buf = nil, nil
	if err == nil {
		err = s.rerr
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	return buf, n, err
}

// readable runs inside RawConn.Read: false means "not ready, wait".
func (s *rawSource) readable(fd uintptr) bool {
	b := s.get()
	for {
		n, err := syscall.Read(int(fd), b)
		switch err {
		case nil:
			s.buf, s.n = b, n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			pool.Put(b)
			return false
		default:
			pool.Put(b)
			s.rerr = os.NewSyscallError("read", err)
			return true
		}
	}
}
