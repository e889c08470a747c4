package netstd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// rawWrite and rawRead speak the wire format by hand.
func rawWrite(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
	if _, err := c.Write(append(b, p...)); err != nil {
		t.Fatal(err)
	}
}

func rawRead(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.LittleEndian.Uint32(h[:]))
	_, err := io.ReadFull(c, p)
	return p, err
}

func dialRaw(s framelink.Server) (net.Conn, error) {
	return net.Dial(s.Addr().Network(), s.Addr().String())
}

func rawDial(t *testing.T, s framelink.Server) net.Conn {
	t.Helper()
	c, err := dialRaw(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serveTCP is Serve("tcp", "127.0.0.1:0", h, o), failing t on an error.
// The caller shuts the server down.
func serveTCP(t *testing.T, h framelink.Handler, o framelink.Options) framelink.Server {
	t.Helper()
	s, err := Serve("tcp", "127.0.0.1:0", h, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shutdown(t *testing.T, s framelink.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// closeLog records OnClose errors per connection, in order.
type closeLog struct {
	framelink.EchoHandler
	opened chan framelink.Conn
	closed chan error
}

func newCloseLog() *closeLog {
	return &closeLog{opened: make(chan framelink.Conn, 16), closed: make(chan error, 16)}
}

func (h *closeLog) OnOpen(c framelink.Conn)             { h.opened <- c }
func (h *closeLog) OnClose(c framelink.Conn, err error) { h.closed <- err }

// r[verify serve.handler] r[verify serve.pull] r[verify transport.netstd]
func TestServeEcho(t *testing.T) {
	for _, network := range []string{"tcp", "unix", "local"} {
		t.Run(network, func(t *testing.T) {
			ctx := testCtx(t)
			addr := "127.0.0.1:0"
			switch network {
			case "unix":
				addr = filepath.Join(t.TempDir(), "echo.sock")
			case "local":
				addr = filepath.Join(t.TempDir(), "local.sock")
			}
			s, err := Serve(network, addr, framelink.EchoHandler{}, framelink.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, s)
			var wg sync.WaitGroup
			errc := make(chan error, 4)
			for k := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l, err := Dial(ctx, network, s.Addr().String(), framelink.Options{})
					if err != nil {
						errc <- err
						return
					}
					defer l.Close()
					for i := range 200 {
						p := payload(k*1000+i, i*37%5000)
						if err := l.Tx().Send(ctx, p); err != nil {
							errc <- err
							return
						}
						f, err := l.Rx().Recv(ctx)
						if err != nil {
							errc <- err
							return
						}
						if !bytes.Equal(f.Bytes(), p) {
							errc <- errors.New("echo mismatch")
						}
						f.Release()
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
		})
	}
}

// Replies sent from outside a callback, while the connection's goroutine
// waits for input, are written.
func TestServeSendFromOtherGoroutine(t *testing.T) {
	h := newCloseLog()
	s := serveTCP(t, h, framelink.Options{})
	defer shutdown(t, s)
	c := rawDial(t, s)
	sc := <-h.opened
	for i := range 50 {
		p := payload(i, i*100)
		if err := sc.Send(p); err != nil {
			t.Fatal(err)
		}
		got, err := rawRead(c)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawRead(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after Conn.Close: %v, want EOF", err)
	}
	if err := <-h.closed; err != nil {
		t.Fatalf("OnClose after Conn.Close: %v", err)
	}
	if err := sc.Send([]byte("x")); !errors.Is(err, framelink.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

// r[verify serve.reply]
func TestServeReplyBackpressure(t *testing.T) {
	const high, frame, fanout = 64 << 10, 1024, 4
	var maxQueued int64
	var mu sync.Mutex
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		for range fanout {
			_ = c.Send(p)
		}
		mu.Lock()
		maxQueued = max(maxQueued, c.Stats().QueuedBytes)
		mu.Unlock()
	}}
	s := serveTCP(t, h, framelink.Options{HighWater: high, LowWater: high / 4})
	defer shutdown(t, s)
	c := rawDial(t, s)
	// Write without reading until writing stalls: the server must stop
	// reading once its output backs up. The write deadline only detects
	// the stall; nothing asserts how long anything took.
	const limit = 256 << 20
	buf := make([]byte, 0, 64*(frame+4))
	for range 64 {
		buf = binary.LittleEndian.AppendUint32(buf, frame)
		buf = append(buf, make([]byte, frame)...)
	}
	written := 0
	for written < limit {
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Write(buf)
		written += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if written >= limit {
		t.Fatalf("server kept reading %d bytes from a peer that reads nothing", written)
	}
	mu.Lock()
	mq := maxQueued
	mu.Unlock()
	if bound := int64(high + fanout*(frame+4)); mq > bound {
		t.Fatalf("QueuedBytes reached %d, bound %d", mq, bound)
	}
	t.Logf("client wrote %d bytes before stalling; max queued %d", written, mq)
}

// r[verify serve.timeouts]
func TestServeTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    framelink.Options
		send []byte // what the stalled client sends before stalling
		echo string // the whole frame in send, echoed before the close
	}{
		{"idle", framelink.Options{IdleTimeout: 100 * time.Millisecond}, []byte{1, 0, 0, 0, 'x'}, "x"},
		{"idle from the start", framelink.Options{IdleTimeout: 100 * time.Millisecond}, nil, ""},
		{"frame header", framelink.Options{FrameTimeout: 100 * time.Millisecond}, []byte{1, 0}, ""},
		{"frame payload", framelink.Options{FrameTimeout: 100 * time.Millisecond, IdleTimeout: time.Hour}, []byte{1, 0, 0, 0, 'x', 9, 0, 0, 0, 'y'}, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCloseLog()
			s := serveTCP(t, h, tc.o)
			defer shutdown(t, s)
			stalled := rawDial(t, s)
			<-h.opened
			if len(tc.send) > 0 {
				if _, err := stalled.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			// Another connection keeps echoing until the stalled one is
			// closed, and is not closed itself.
			busy := rawDial(t, s)
			<-h.opened
			var closeErr error
			for i := 0; closeErr == nil; i++ {
				if i == 1_000_000 { // a bound on the loop, not a timing assertion
					t.Fatal("the stalled connection was never closed")
				}
				p := payload(i, 100)
				rawWrite(t, busy, p)
				got, err := rawRead(busy)
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("busy connection, frame %d: %v", i, err)
				}
				select {
				case closeErr = <-h.closed:
					if closeErr == nil {
						t.Fatal("stalled connection closed without error")
					}
				default:
				}
			}
			if !errors.Is(closeErr, os.ErrDeadlineExceeded) {
				t.Fatalf("OnClose: %v, want os.ErrDeadlineExceeded", closeErr)
			}
			// The stalled connection is closed: its reads end.
			stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
			if tc.echo != "" {
				if got, err := rawRead(stalled); err != nil || string(got) != tc.echo {
					t.Fatalf("stalled connection's echo: %q %v", got, err)
				}
			}
			if _, err := rawRead(stalled); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("stalled connection still open: %v", err)
			}
		})
	}
}

// r[verify serve.shutdown]
func TestServeShutdownFlushes(t *testing.T) {
	const n, size = 64, 64 << 10 // 4 MiB of replies for one request
	handled := make(chan struct{})
	closed := make(chan error, 1)
	h := framelink.HandlerFuncs{
		Frame: func(c framelink.Conn, p []byte) {
			for i := range n {
				if err := c.Send(payload(i, size)); err != nil {
					panic(err)
				}
			}
			close(handled)
		},
		Close: func(c framelink.Conn, err error) { closed <- err },
	}
	s := serveTCP(t, h, framelink.Options{})
	c := rawDial(t, s)
	rawWrite(t, c, []byte("go"))
	<-handled
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	for i := range n {
		got, err := rawRead(c)
		if err != nil || !bytes.Equal(got, payload(i, size)) {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if _, err := rawRead(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after the replies: %v, want EOF", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("OnClose: %v", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// A Shutdown whose context ends closes connections that cannot flush.
func TestServeShutdownForced(t *testing.T) {
	handled := make(chan struct{})
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		for range 1024 {
			_ = c.Send(make([]byte, 64<<10))
		}
		close(handled)
	}}
	s := serveTCP(t, h, framelink.Options{})
	c := rawDial(t, s)
	rawWrite(t, c, []byte("go"))
	<-handled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A 4 GiB header closes that connection at once; others go on.
// r[verify wire.max]
func TestServeOversize(t *testing.T) {
	h := newCloseLog()
	s := serveTCP(t, h, framelink.Options{})
	defer shutdown(t, s)
	good := rawDial(t, s)
	<-h.opened
	bad := rawDial(t, s)
	bc := <-h.opened
	if _, err := bad.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := <-h.closed; !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("OnClose: %v", err)
	}
	if bc.Stats().Oversize != 1 {
		t.Fatalf("Oversize = %d", bc.Stats().Oversize)
	}
	if _, err := rawRead(bad); err == nil {
		t.Fatal("oversize connection still open")
	}
	rawWrite(t, good, []byte("still here"))
	if got, err := rawRead(good); err != nil || string(got) != "still here" {
		t.Fatalf("other connection: %q %v", got, err)
	}
}
