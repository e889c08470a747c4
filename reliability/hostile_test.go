package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
)

// totalAlloc returns the bytes allocated by the process so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// oversizes are the declared lengths of the oversize tests, for a
// MaxFrame of framelink.DefaultMaxFrame.
var oversizes = []uint32{framelink.DefaultMaxFrame + 1, 1 << 30, 0xffffffff}

// checkTooLarge checks that err is a *FrameTooLargeError for declared.
func checkTooLarge(t *testing.T, what string, err error, declared uint32) {
	t.Helper()
	if !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Errorf("%s: %v, want ErrFrameTooLarge", what, err)
		return
	}
	var fe *framelink.FrameTooLargeError
	if !errors.As(err, &fe) {
		t.Errorf("%s: %v is not a *FrameTooLargeError", what, err)
		return
	}
	if fe.Size != uint64(declared) || fe.Max != framelink.DefaultMaxFrame {
		t.Errorf("%s: FrameTooLargeError{Size: %d, Max: %d}, want {%d, %d}", what, fe.Size, fe.Max, declared, framelink.DefaultMaxFrame)
	}
}

// TestHostileOversize: a header declaring more than MaxFrame. The
// connection is closed at once with ErrFrameTooLarge (carrying both
// sizes), the oversize counter counts it, and nothing near the declared
// size is ever allocated.
//
// r[verify wire.max] r[verify link.stats] r[verify link.rx.error]
func TestHostileOversize(t *testing.T) {
	for _, declared := range oversizes {
		t.Run(fmt.Sprintf("%#x", declared), func(t *testing.T) {
			t.Run("server", func(t *testing.T) {
				forServers(t, "oversize header", nil, func(t *testing.T, e *engine, k serverKind) {
					srv := startEcho(t, e, k, serverOpts(e, k, framelink.Options{}), 7)
					c := rawDial(t, srv.addr)
					c.SetDeadline(time.Now().Add(hangLimit))
					c.Write(encode([]byte("ok")))
					expectFrames(t, c, []byte("ok"))
					before := totalAlloc()
					c.Write(append(header(declared), make([]byte, 1000)...))
					end := expectClosed(t, c)
					srv.waitClosed(t, 1)
					grown := totalAlloc() - before
					sc := srv.snapshot()[0]
					checkTooLarge(t, "server close error", sc.closeErr, declared)
					var st framelink.Stats
					if sc.conn != nil {
						st = sc.conn.Stats()
					} else {
						st = sc.link.Stats()
					}
					if st.Oversize != 1 {
						t.Errorf("Stats().Oversize = %d, want 1", st.Oversize)
					}
					if grown > framelink.DefaultMaxFrame/2 {
						t.Errorf("the process allocated %d bytes while rejecting a header of %d bytes", grown, declared)
					}
					t.Logf("%s %s: header %d -> %v; peer read %v; %d bytes allocated meanwhile", e.name, k, declared, sc.closeErr, end, grown)
					if n := sc.framesIn.Load(); n != 1 {
						t.Errorf("server delivered %d frames, want 1", n)
					}
				})
			})
			t.Run("client", func(t *testing.T) {
				forClients(t, "oversize header", func(t *testing.T, e *engine) {
					ln := rawListen(t)
					l := dialLink(t, e, ln.Addr().String(), framelink.Options{})
					peer := acceptRaw(t, ln)
					ctx := testCtx(t)
					peer.Write(encode([]byte("ok")))
					if p, err := recvFrame(ctx, l); err != nil || string(p) != "ok" {
						t.Fatalf("first frame: %q, %v", p, err)
					}
					before := totalAlloc()
					peer.Write(append(header(declared), make([]byte, 1000)...))
					_, err := recvFrame(ctx, l)
					grown := totalAlloc() - before
					checkTooLarge(t, "Recv", err, declared)
					if _, err2 := recvFrame(ctx, l); err2 == nil || errors.Is(err2, context.DeadlineExceeded) {
						t.Errorf("Recv after ErrFrameTooLarge: %v, want an error at once", err2)
					}
					if st := l.Stats(); st.Oversize != 1 {
						t.Errorf("Stats().Oversize = %d, want 1", st.Oversize)
					}
					if grown > framelink.DefaultMaxFrame/2 {
						t.Errorf("the process allocated %d bytes while rejecting a header of %d bytes", grown, declared)
					}
					// r[wire.max]: the receiver closes the link.
					end := expectClosed(t, peer)
					t.Logf("%s client: header %d -> %v; peer read %v; %d bytes allocated meanwhile", e.name, declared, err, end, grown)
				})
			})
		})
	}
}

// TestHostileOversizeAfterFrames: whole frames followed by an oversize
// header, all in one segment that arrives before the pull server even
// accepts the link. Recv returns every whole frame, then
// ErrFrameTooLarge: the protocol error must not destroy the frames
// received before it, nor may the replies sent meanwhile.
//
// r[verify wire.max] r[verify link.order] r[verify link.rx.error]
func TestHostileOversizeAfterFrames(t *testing.T) {
	forServers(t, "frames then an oversize header (pull)", []serverKind{pull}, func(t *testing.T, e *engine, k serverKind) {
		ln, err := e.listen("tcp", loopback, framelink.Options{MaxFrame: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c := rawDial(t, ln.Addr().String())
		c.Write(append(encode(small[:4]...), header(1000)...))
		ctx := testCtx(t)
		l, err := ln.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i, w := range small[:4] {
			p, err := recvFrame(ctx, l)
			if err != nil || !bytes.Equal(p, w) {
				t.Fatalf("Recv %d: %q, %v; want %q: frames received before the oversize header were lost", i, p, err, w)
			}
			// Reply, as a server does. The link may already be closed by
			// the protocol error (r[wire.max]); that must not destroy the
			// frames still to be received.
			if err := l.Tx().Send(ctx, p); err != nil && !closedErr(err) {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		_, err = recvFrame(ctx, l)
		if !errors.Is(err, framelink.ErrFrameTooLarge) {
			t.Fatalf("Recv after the frames: %v, want ErrFrameTooLarge", err)
		}
	})
}

// TestHostileTruncated: a stream that ends (FIN) inside a header or a
// payload is io.ErrUnexpectedEOF, never a clean end, and the partial
// frame is never delivered.
//
// r[verify wire.truncated] r[verify link.rx.error]
func TestHostileTruncated(t *testing.T) {
	tails := map[string][]byte{
		"header":  {0x10, 0x00},
		"header3": {0x10, 0x00, 0x00},
		"payload": append(header(100), make([]byte, 50)...),
		"empty":   header(1),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			t.Run("server", func(t *testing.T) {
				forServers(t, "truncated "+name, nil, func(t *testing.T, e *engine, k serverKind) {
					srv := startEcho(t, e, k, serverOpts(e, k, framelink.Options{}), 8)
					c := rawDial(t, srv.addr)
					c.SetDeadline(time.Now().Add(hangLimit))
					c.Write(encode(small...))
					expectFrames(t, c, small...)
					c.Write(tail)
					c.CloseWrite()
					end := expectClosed(t, c)
					srv.waitClosed(t, 1)
					sc := srv.snapshot()[0]
					if !errors.Is(sc.closeErr, io.ErrUnexpectedEOF) {
						t.Errorf("stream cut inside a frame: server ended with %v, want io.ErrUnexpectedEOF", sc.closeErr)
					}
					if n := sc.framesIn.Load(); n != uint64(len(small)) {
						t.Errorf("server delivered %d frames, want %d", n, len(small))
					}
					t.Logf("%s %s: %v; peer read %v", e.name, k, sc.closeErr, end)
				})
			})
			t.Run("client", func(t *testing.T) {
				forClients(t, "truncated "+name, func(t *testing.T, e *engine) {
					ln := rawListen(t)
					l := dialLink(t, e, ln.Addr().String(), framelink.Options{})
					peer := acceptRaw(t, ln)
					ctx := testCtx(t)
					peer.Write(append(encode(small...), tail...))
					peer.CloseWrite()
					for i, w := range small {
						if p, err := recvFrame(ctx, l); err != nil || !bytes.Equal(p, w) {
							t.Fatalf("frame %d: %d bytes, %v", i, len(p), err)
						}
					}
					for i := range 2 {
						if _, err := recvFrame(ctx, l); !errors.Is(err, io.ErrUnexpectedEOF) {
							t.Fatalf("Recv #%d after the cut: %v, want io.ErrUnexpectedEOF", i+1, err)
						}
					}
				})
			})
		})
	}
}

// garbage returns n bytes of hostile input: runs of valid frames of
// random small lengths mixed with random bytes, so that some of it
// decodes, and then something does not.
func garbage(rng *rand.Rand, n, max int) []byte {
	var b []byte
	for len(b) < n {
		switch rng.IntN(4) {
		case 0, 1, 2:
			p := make([]byte, rng.IntN(max+1))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			b = codec.AppendFrame(b, p)
		default:
			for range 1 + rng.IntN(8) {
				b = append(b, byte(rng.Uint32()))
			}
		}
	}
	return b[:n]
}

// reference decodes input with codec.Split: the frames a receiver must
// deliver, and how the stream ends: nil (on a frame boundary),
// io.ErrUnexpectedEOF or framelink.ErrFrameTooLarge.
func reference(input []byte, max uint32) (frames [][]byte, end error) {
	for len(input) > 0 {
		p, adv, _, err := codec.Split(input, max)
		if errors.Is(err, framelink.ErrFrameTooLarge) {
			return frames, framelink.ErrFrameTooLarge
		}
		if err != nil {
			return frames, err
		}
		if p == nil {
			return frames, io.ErrUnexpectedEOF
		}
		frames = append(frames, p)
		input = input[adv:]
	}
	return frames, nil
}

// TestHostileGarbage: random input, some of it valid frames. Every
// server delivers exactly the frames a reference decoder finds, ends the
// way it says (clean, truncated or oversize), and echoes those frames.
//
// r[verify wire.frame] r[verify wire.max] r[verify wire.truncated]
// r[verify link.errors]
func TestHostileGarbage(t *testing.T) {
	const max = 2048
	seed := testSeed(t)
	forServers(t, "garbage", nil, func(t *testing.T, e *engine, k serverKind) {
		for i := range 6 {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			input := garbage(rng, 1000+rng.IntN(64<<10), max)
			want, wantEnd := reference(input, max)
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Logf("seed %#x", seed)
				srv := startEcho(t, e, k, serverOpts(e, k, framelink.Options{MaxFrame: max}), 9)
				c := rawDial(t, srv.addr)
				c.SetDeadline(time.Now().Add(hangLimit))
				go func() {
					c.Write(input)
					c.CloseWrite()
				}()
				got, end := readFrames(c)
				srv.waitClosed(t, 1)
				sc := srv.snapshot()[0]
				switch {
				case wantEnd == nil && sc.closeErr != nil:
					t.Errorf("input ends on a frame boundary, server ended with %v", sc.closeErr)
				case wantEnd != nil && !errors.Is(sc.closeErr, wantEnd):
					t.Errorf("server ended with %v, want %v", sc.closeErr, wantEnd)
				}
				if n := sc.framesIn.Load(); n != uint64(len(want)) {
					t.Errorf("server delivered %d frames, the reference decoder %d (server ended with %v; want end %v; errs %v)", n, len(want), sc.closeErr, wantEnd, srv.errs())
				}
				if len(got) > len(want) {
					t.Fatalf("%d echoes for %d frames", len(got), len(want))
				}
				for j := range got {
					if !bytes.Equal(got[j], want[j]) {
						t.Fatalf("echo %d differs from frame %d", j, j)
					}
				}
				full := errors.Is(end, io.EOF) && !errors.Is(end, io.ErrUnexpectedEOF)
				if len(got) < len(want) && !errors.Is(wantEnd, framelink.ErrFrameTooLarge) && !e.halfCloseEndsConn {
					t.Errorf("%d of %d echoes, then %v", len(got), len(want), end)
				}
				if len(got) == len(want) && !full && !resetErr(end) {
					t.Errorf("after the echoes: %v", end)
				}
				noteFrames(e.name, uint64(len(got)), sc.framesIn.Load(), 0, uint64(len(input)))
			})
		}
	})
}

// TestHostileHalfHeaders: 200 connections that send half a header and
// vanish (half with a FIN, half with a reset). Each is closed with an
// error, and no descriptor or goroutine is left behind while the server
// keeps running.
//
// r[verify serve.handler] r[verify wire.truncated] r[verify link.close]
func TestHostileHalfHeaders(t *testing.T) {
	const n = 200
	forServers(t, "200 half-header connections", nil, func(t *testing.T, e *engine, k serverKind) {
		srv := startEcho(t, e, k, serverOpts(e, k, framelink.Options{}), 10)
		// A first connection brings every lazily started resource up.
		c0, err := rawDialErr(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		c0.SetDeadline(time.Now().Add(hangLimit))
		c0.Write(encode([]byte("warm")))
		expectFrames(t, c0, []byte("warm"))
		c0.Close()
		srv.waitClosed(t, 1)

		runtime.GC()
		fds := countFDs()
		opts := append([]goleak.Option{goleak.IgnoreCurrent()}, e.ignore...)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := rawDialErr(srv.addr)
				if err != nil {
					errs <- err
					return
				}
				c.Write([]byte{0x20, 0x00})
				if i%2 == 0 {
					c.SetLinger(0)
				}
				c.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("dial: %v", err)
		}
		srv.waitClosed(t, n+1)
		for _, sc := range srv.snapshot()[1:] {
			if sc.closeErr == nil || !inTaxonomy(sc.closeErr) {
				t.Errorf("conn %d (half a header, then gone) ended with %v", sc.id, sc.closeErr)
				break
			}
			if sc.framesIn.Load() != 0 {
				t.Errorf("conn %d delivered %d frames from half a header", sc.id, sc.framesIn.Load())
			}
		}
		if fds >= 0 {
			var now int
			if !poll(func() bool { now = countFDs(); return now <= fds }) {
				t.Errorf("%d file descriptors open before the 200 connections, %d after they were all closed", fds, now)
			}
		}
		if err := goleak.Find(opts...); err != nil {
			t.Errorf("goroutines left by the 200 connections: %v", err)
		}
	})
}

// TestHostileSlowloris: peers that open a connection and send nothing,
// half a header, one frame and then nothing, or a frame one byte at a
// time, against a server with a frame and an idle timeout. Each is closed
// with an error matching os.ErrDeadlineExceeded, while a well-behaved
// client on the same server is served throughout.
//
// r[verify serve.timeouts]
func TestHostileSlowloris(t *testing.T) {
	// Generous for a loaded CI machine: the good client must never come
	// near them.
	o := framelink.Options{FrameTimeout: 500 * time.Millisecond, IdleTimeout: 2 * time.Second}
	forServers(t, "slowloris (frame and idle timeouts)", []serverKind{push}, func(t *testing.T, e *engine, k serverKind) {
		srv := startEcho(t, e, k, serverOpts(e, k, o), 11)
		type slow struct {
			name string
			c    *net.TCPConn
		}
		var peers []slow
		open := func(name string) *net.TCPConn {
			c := rawDial(t, srv.addr)
			c.SetDeadline(time.Now().Add(hangLimit))
			peers = append(peers, slow{name, c})
			return c
		}
		open("idle")
		open("half-header").Write([]byte{0x10})
		between := open("idle-between-frames")
		between.Write(encode([]byte("x")))
		expectFrames(t, between, []byte("x"))
		trickle := open("trickle")
		trickle.Write(header(1000))
		tdone := make(chan struct{})
		go func() {
			defer close(tdone)
			for range 3000 { // a byte every 10 ms for at most 30 s
				if _, err := trickle.Write([]byte{1}); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond) // the peer's pace, not a synchronisation
			}
		}()
		// Meanwhile a good client is served.
		ce := clientFor(e)
		l := dialLink(t, ce, srv.addr, framelink.Options{})
		ctx := testCtx(t)
		for i := range 200 {
			p := []byte(fmt.Sprintf("frame %d", i))
			if err := l.Tx().Send(ctx, p); err != nil {
				t.Fatalf("good client Send %d: %v", i, err)
			}
			if got, err := recvFrame(ctx, l); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("good client echo %d: %q, %v", i, got, err)
			}
		}
		for _, p := range peers {
			end := expectClosed(t, p.c)
			t.Logf("%s %s: %s peer closed (%v)", e.name, k, p.name, end)
		}
		<-tdone
		l.Close()
		srv.waitClosed(t, int64(len(peers)+1))
		for _, sc := range srv.snapshot() {
			if sc.tag.Load() != 0 && sc.framesIn.Load() >= 200 {
				continue // the good client
			}
			if sc.framesIn.Load() >= 200 {
				continue
			}
			if !errors.Is(sc.closeErr, os.ErrDeadlineExceeded) {
				t.Errorf("slow conn %d (%d frames) ended with %v, want os.ErrDeadlineExceeded", sc.id, sc.framesIn.Load(), sc.closeErr)
			}
		}
	})
}
