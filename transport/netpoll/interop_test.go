package netpoll

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/linktest"
	"github.com/framelink/framelink/transport/netstd"
)

// The whole link suite between a netpoll link and a netstd link, both
// ways round. With netstd receiving, the suite's backpressure cases run
// against the netpoll sender; with netpoll receiving, the netpoll
// receiver limitations are skipped as in TestLinktest.
// r[verify transport.interop]
func TestInteropLinktest(t *testing.T) {
	t.Run("netpoll-dials-netstd", func(t *testing.T) {
		linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
			ln, err := netstd.Listen("tcp", "127.0.0.1:0", o)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a, err = Dial(testCtx(t), "tcp", ln.Addr().String(), o)
			if err != nil {
				t.Fatal(err)
			}
			b, err = ln.Accept(testCtx(t))
			if err != nil {
				a.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		}, linktest.IgnoreGoroutines(ignoreNetpoll...))
	})
	t.Run("netstd-dials-netpoll", func(t *testing.T) {
		opts := append([]linktest.Option{linktest.IgnoreGoroutines(ignoreNetpoll...)}, netpollReceiverSkips...)
		linktest.Run(t, func(t *testing.T, o framelink.Options) (a, b framelink.Link) {
			ln, err := Listen("tcp", "127.0.0.1:0", o)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a, err = netstd.Dial(testCtx(t), "tcp", ln.Addr().String(), o)
			if err != nil {
				t.Fatal(err)
			}
			b, err = ln.Accept(testCtx(t))
			if err != nil {
				a.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		}, opts...)
	})
}

// Echo servers of each engine with clients of the other, bytes verified.
// r[verify transport.interop]
func TestInteropServe(t *testing.T) {
	type dialer func(ctx context.Context, network, addr string, o framelink.Options) (framelink.Link, error)
	type server func(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error)
	cases := []struct {
		name  string
		serve server
		dial  dialer
	}{
		{"netpoll-clients-netstd-server", netstd.Serve, Dial},
		{"netstd-clients-netpoll-server", Serve, netstd.Dial},
		{"netpoll-clients-netpoll-server", Serve, Dial},
	}
	sizes := []int{0, 1, 63, 64, 4096, 70000, 1 << 20}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.Shutdown(testCtx(t)); err != nil {
					t.Error(err)
				}
			}()
			ctx := testCtx(t)
			errs := make(chan error, 4)
			for c := range 4 {
				go func() {
					errs <- func() error {
						l, err := tc.dial(ctx, "tcp", s.Addr().String(), framelink.Options{})
						if err != nil {
							return err
						}
						defer l.Close()
						for round := range 5 {
							for i, n := range sizes {
								if err := l.Tx().Send(ctx, payload(n, byte(c+round+i))); err != nil {
									return err
								}
							}
							for i, n := range sizes {
								f, err := l.Rx().Recv(ctx)
								if err != nil {
									return err
								}
								ok := bytes.Equal(f.Bytes(), payload(n, byte(c+round+i)))
								f.Release()
								if !ok {
									return fmt.Errorf("client %d round %d: echo of %d bytes differs", c, round, n)
								}
							}
						}
						return l.Tx().Close()
					}()
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
