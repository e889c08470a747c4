package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// forServers runs f as one subtest per server engine and kind, with leak
// checks around it.
func forServers(t *testing.T, what string, kinds []serverKind, f func(t *testing.T, e *engine, k serverKind)) {
	t.Helper()
	es := netEngines()
	if len(es) == 0 {
		t.Skip("no network engine registered yet")
	}
	for _, e := range es {
		for _, k := range e.kinds() {
			if kinds != nil && !contains(kinds, k) {
				continue
			}
			t.Run(e.name+"-"+string(k), func(t *testing.T) {
				checkLeaks(t, e, clientFor(e))
				noteTried(e.name, what+" ("+string(k)+")")
				f(t, e, k)
			})
		}
	}
}

// forClients runs f as one subtest per engine with Dial.
func forClients(t *testing.T, what string, f func(t *testing.T, e *engine)) {
	t.Helper()
	n := 0
	for _, e := range allEngines() {
		if e.dial == nil {
			continue
		}
		n++
		t.Run(e.name+"-client", func(t *testing.T) {
			checkLeaks(t, e)
			noteTried(e.name, what+" (client)")
			f(t, e)
		})
	}
	if n == 0 {
		t.Skip("no engine with Dial registered yet")
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// testCtx returns a context bounded by the hang limit.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangLimit)
	t.Cleanup(cancel)
	return ctx
}

// dialLink dials addr with e, closing the link at cleanup.
func dialLink(t *testing.T, e *engine, addr string, o framelink.Options) framelink.Link {
	t.Helper()
	l, err := e.dial(testCtx(t), "tcp", addr, o)
	if err != nil {
		t.Fatalf("%s Dial %s: %v", e.name, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// recvFrame receives one frame and returns a copy.
func recvFrame(ctx context.Context, l framelink.Link) ([]byte, error) {
	f, err := l.Rx().Recv(ctx)
	if err != nil {
		return nil, err
	}
	p := bytes.Clone(f.Bytes())
	f.Release()
	return p, nil
}

// serverOpts returns o adjusted for a server of e and kind: a push server
// that cannot pause reading gets room for everything in flight (see
// runCell).
func serverOpts(e *engine, k serverKind, o framelink.Options) framelink.Options {
	if k == push && e.noPause {
		o.HighWater, o.LowWater = 64<<20, 16<<20
	}
	return o
}

var small = [][]byte{{}, []byte("a"), []byte("bb"), []byte("ccc"), bytes.Repeat([]byte{7}, 1000)}

// TestFaultPeerReset: a peer that resets the connection (SO_LINGER 0) in
// the middle of a frame. The server sees an error, never a clean end and
// never the partial frame; a client link's Recv fails and keeps failing,
// and its Send reports the reset instead of blocking.
//
// r[verify link.rx.error] r[verify link.errors] r[verify wire.truncated]
func TestFaultPeerReset(t *testing.T) {
	o := framelink.Options{MaxFrame: 64 << 10}
	t.Run("server", func(t *testing.T) {
		forServers(t, "peer reset mid-frame", nil, func(t *testing.T, e *engine, k serverKind) {
			srv := startEcho(t, e, k, serverOpts(e, k, o), 1)
			c := rawDial(t, srv.addr)
			c.SetDeadline(time.Now().Add(hangLimit))
			if _, err := c.Write(encode(small...)); err != nil {
				t.Fatal(err)
			}
			expectFrames(t, c, small...)
			if _, err := c.Write(append(header(1000), make([]byte, 500)...)); err != nil {
				t.Fatal(err)
			}
			c.SetLinger(0)
			c.Close()
			srv.waitClosed(t, 1)
			sc := srv.snapshot()[0]
			if n := sc.framesIn.Load(); n != uint64(len(small)) {
				t.Errorf("server received %d frames, want %d: the partial frame was delivered", n, len(small))
			}
			if sc.closeErr == nil {
				t.Errorf("a reset mid-frame ended the connection cleanly (nil error), want an error")
			} else if !inTaxonomy(sc.closeErr) {
				t.Errorf("reset reported as %v (%T): not in the error taxonomy", sc.closeErr, sc.closeErr)
			}
			t.Logf("%s %s: reset mid-frame reported as %v", e.name, k, sc.closeErr)
			for _, err := range srv.errs() {
				t.Error(err)
			}
		})
	})
	t.Run("client", func(t *testing.T) {
		forClients(t, "peer reset mid-frame", func(t *testing.T, e *engine) {
			ln := rawListen(t)
			l := dialLink(t, e, ln.Addr().String(), framelink.Options{MaxFrame: 64 << 10, HighWater: 64 << 10, LowWater: 16 << 10})
			peer := acceptRaw(t, ln)
			ctx := testCtx(t)
			if _, err := peer.Write(append(encode(small...), append(header(1000), make([]byte, 500)...)...)); err != nil {
				t.Fatal(err)
			}
			for i, w := range small {
				got, err := recvFrame(ctx, l)
				if err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				if !bytes.Equal(got, w) {
					t.Fatalf("Recv %d: %d bytes, want %d", i, len(got), len(w))
				}
			}
			peer.SetLinger(0)
			peer.Close()
			_, err := recvFrame(ctx, l)
			if err == nil || errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Recv after a reset mid-frame: %v, want an error other than io.EOF", err)
			}
			if !inTaxonomy(err) {
				t.Errorf("reset reported as %v (%T): not in the error taxonomy", err, err)
			}
			t.Logf("%s client: Recv after reset: %v", e.name, err)
			if _, err2 := recvFrame(ctx, l); err2 == nil || errors.Is(err2, context.DeadlineExceeded) {
				t.Fatalf("second Recv after the reset: %v, want an error at once", err2)
			}
			// Send must report the dead connection, not block forever.
			p := make([]byte, 1024)
			var serr error
			for i := 0; i < 100000 && serr == nil; i++ {
				serr = l.Tx().Send(ctx, p)
			}
			if serr == nil || errors.Is(serr, context.DeadlineExceeded) {
				t.Fatalf("Send after the peer reset: %v, want the connection's error", serr)
			}
			t.Logf("%s client: Send after reset: %v", e.name, serr)
		})
	})
}

// TestFaultHalfClose: a peer that sends frames and then shuts its write
// side down (a graceful half-close) while reading. The server delivers
// every frame, echoes every one, and ends with a clean end of stream; a
// client link receives every frame, then io.EOF, and can still send.
//
// r[verify link.rx.eof] r[verify wire.eof] r[verify link.tx.close]
func TestFaultHalfClose(t *testing.T) {
	o := framelink.Options{MaxFrame: 64 << 10}
	t.Run("server", func(t *testing.T) {
		forServers(t, "peer half-close", nil, func(t *testing.T, e *engine, k serverKind) {
			srv := startEcho(t, e, k, serverOpts(e, k, o), 2)
			var frames [][]byte
			for i := range 200 {
				b := make([]byte, frameLen(9, uint32(i), 64<<10))
				fillFrame(b, 9, uint32(i), uint64(i))
				frames = append(frames, b)
			}
			c := rawDial(t, srv.addr)
			c.SetDeadline(time.Now().Add(hangLimit))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(encode(frames...))
				if err == nil {
					err = c.CloseWrite()
				}
				werr <- err
			}()
			echoes, end := readFrames(c)
			for i, p := range echoes {
				if i >= len(frames) || !bytes.Equal(p, frames[i]) {
					t.Fatalf("echo %d is wrong (%d bytes)", i, len(p))
				}
			}
			got := len(echoes)
			if err := <-werr; err != nil {
				t.Fatalf("raw writer: %v", err)
			}
			srv.waitClosed(t, 1)
			sc := srv.snapshot()[0]
			if e.halfCloseEndsConn && (got != len(frames) || !errors.Is(end, io.EOF)) {
				// Documented limitation: record what happened.
				t.Logf("%s %s (closes on the peer's half-close): %d of %d echoes, then %v; server saw %d frames, ended with %v",
					e.name, k, got, len(frames), end, sc.framesIn.Load(), sc.closeErr)
				noteTried(e.name, fmt.Sprintf("half-close: %d/%d echoes then %v", got, len(frames), end))
				return
			}
			if got != len(frames) {
				t.Errorf("%d of %d echoes came back before %v", got, len(frames), end)
			}
			if !errors.Is(end, io.EOF) {
				t.Errorf("after the echoes the raw peer read %v, want io.EOF (a clean end)", end)
			}
			if n := sc.framesIn.Load(); n != uint64(len(frames)) {
				t.Errorf("server received %d frames, want %d", n, len(frames))
			}
			if sc.closeErr != nil {
				t.Errorf("server connection ended with %v, want a clean end", sc.closeErr)
			}
			for _, err := range srv.errs() {
				t.Error(err)
			}
		})
	})
	t.Run("client", func(t *testing.T) {
		forClients(t, "peer half-close", func(t *testing.T, e *engine) {
			ln := rawListen(t)
			l := dialLink(t, e, ln.Addr().String(), o)
			peer := acceptRaw(t, ln)
			ctx := testCtx(t)
			if _, err := peer.Write(encode(small...)); err != nil {
				t.Fatal(err)
			}
			if err := peer.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			for i, w := range small {
				got, err := recvFrame(ctx, l)
				if err != nil || !bytes.Equal(got, w) {
					t.Fatalf("Recv %d: %d bytes, %v; want %d bytes", i, len(got), err, len(w))
				}
			}
			for i := range 3 {
				if _, err := recvFrame(ctx, l); !errors.Is(err, io.EOF) {
					t.Fatalf("Recv #%d after the peer's half-close: %v, want io.EOF", i+1, err)
				}
			}
			// The other direction is still open.
			var serr error
			for _, p := range small {
				if serr = l.Tx().Send(ctx, p); serr != nil {
					break
				}
			}
			if serr == nil {
				serr = l.Tx().Close()
			}
			if e.halfCloseEndsConn && serr != nil {
				t.Logf("%s client (closes on the peer's half-close): Send after it: %v", e.name, serr)
				noteTried(e.name, "client cannot send after the peer's half-close")
				return
			}
			if serr != nil {
				t.Fatalf("sending after the peer's half-close: %v", serr)
			}
			expectFrames(t, peer, small...)
			if err := expectClosed(t, peer); !errors.Is(err, io.EOF) {
				t.Fatalf("after Tx.Close the raw peer read %v, want io.EOF", err)
			}
		})
	})
}

// A tagged client for the shutdown and kill tests: one stream of
// self-checking frames (no short frames), sent until stopped, with a
// receiver checking every echo.
type taggedClient struct {
	l      framelink.Link
	stream uint32
	max    int

	sent, recv atomic.Uint64
	stop       atomic.Bool
	sendErr    error
	recvErr    error // what ended the receiver
	badEcho    error // a lost, duplicated, reordered or corrupted echo
	recvDone   chan struct{}
	done       sync.WaitGroup
}

// startTagged starts sending up to limit frames (0: until stopped) and
// receiving echoes on l.
func startTagged(ctx context.Context, l framelink.Link, stream uint32, max int, limit uint64) *taggedClient {
	c := &taggedClient{l: l, stream: stream, max: max, recvDone: make(chan struct{})}
	c.done.Add(2)
	go func() {
		defer c.done.Done()
		s := newStreamSender(l.Tx(), stream, max, uint64(stream))
		for !c.stop.Load() && (limit == 0 || uint64(s.next) < limit) {
			if err := s.sendOne(ctx); err != nil {
				c.sendErr = err
				return
			}
			c.sent.Store(uint64(s.next))
		}
	}()
	go func() {
		defer c.done.Done()
		defer close(c.recvDone)
		chk := newChecker(max, []uint32{stream})
		for {
			f, err := l.Rx().Recv(ctx)
			if err != nil {
				c.recvErr = err
				return
			}
			if err := chk.check(f.Bytes()); err != nil && c.badEcho == nil {
				c.badEcho = err
			}
			f.Release()
			c.recv.Add(1)
		}
	}()
	return c
}

// TestFaultShutdown: Server.Shutdown(ctx) with echoes in flight. Every
// echo the handler committed reaches its client before the deadline, then
// every connection is closed, the listener too, and nothing is left.
//
// r[verify serve.shutdown]
func TestFaultShutdown(t *testing.T) {
	for _, busy := range []bool{false, true} {
		name := "drained"
		if busy {
			name = "busy"
		}
		t.Run(name, func(t *testing.T) {
			forServers(t, "Shutdown with frames in flight", []serverKind{push}, func(t *testing.T, e *engine, k serverKind) {
				testShutdown(t, e, busy)
			})
		})
	}
}

// testShutdown: with busy=false the clients have sent everything and the
// server has read it all, but echoes are still in flight; with busy the
// clients are still sending when Shutdown starts (so the server may close
// with unread input: the order and integrity of what arrives are checked,
// the counts are logged, and for engines with shutdownKeepsEchoes every
// committed echo must arrive).
func testShutdown(t *testing.T, e *engine, busy bool) {
	const conns, frames = 6, 150
	o := framelink.Options{MaxFrame: 64 << 10}
	srv := startEcho(t, e, push, serverOpts(e, push, o), 3, verifying)
	ce := clientFor(e)
	ctx := testCtx(t)
	var clients []*taggedClient
	for i := range conns {
		l := dialLink(t, ce, srv.addr, o)
		limit := uint64(frames)
		if busy {
			limit = 0
		}
		clients = append(clients, startTagged(ctx, l, uint32(i+1)<<8|1, 64<<10, limit))
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.stop.Store(true)
			c.l.Close()
			c.done.Wait()
		}
	})
	// Wait until the server has read enough from every client.
	waitFor(t, "server reading every client", func() bool {
		for _, c := range clients {
			sc := srv.byTag(c.stream)
			if sc == nil {
				return false
			}
			if busy && sc.framesIn.Load() < 20 {
				return false
			}
			if !busy && (c.sent.Load() < frames || sc.framesIn.Load() < frames) {
				return false
			}
		}
		return true
	})
	sctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	err := srv.shutdown(sctx)
	if err != nil {
		t.Errorf("Shutdown: %v (with clients reading, the output should flush before the deadline)", err)
	}
	if o, c := srv.opened.Load(), srv.closed.Load(); o != c {
		t.Errorf("after Shutdown returned: %d connections opened, %d closed (OnClose)", o, c)
	}
	// Every client sees its connection end.
	for _, c := range clients {
		c.stop.Store(true)
	}
	for _, c := range clients {
		select {
		case <-c.recvDone:
		case <-ctx.Done():
			t.Fatalf("client %#x never saw its connection end after Shutdown", c.stream)
		}
	}
	for _, c := range clients {
		c.l.Close() // unblocks a sender held by backpressure
		c.done.Wait()
		sc := srv.byTag(c.stream)
		committed := sc.framesOut.Load()
		if c.badEcho != nil {
			t.Errorf("client %#x: %v", c.stream, c.badEcho)
		}
		if c.recvErr == nil || !inTaxonomy(c.recvErr) {
			t.Errorf("client %#x: receiver ended with %v, want io.EOF or a connection error", c.stream, c.recvErr)
		}
		got := c.recv.Load()
		if busy {
			t.Logf("%s busy: client %#x sent %d, server read %d and committed %d echoes, client got %d, then %v",
				e.name, c.stream, c.sent.Load(), sc.framesIn.Load(), committed, got, c.recvErr)
			if got > committed {
				t.Errorf("client %#x got %d echoes, the server committed only %d", c.stream, got, committed)
			}
			if e.shutdownKeepsEchoes && got != committed {
				t.Errorf("%s busy: client %#x: %d echoes received, %d committed by the server: %d lost by Shutdown (client ended with %v)",
					e.name, c.stream, got, committed, int64(committed)-int64(got), c.recvErr)
			}
			continue
		}
		if got != committed || committed != frames {
			t.Errorf("%s: client %#x: %d echoes received, %d committed by the server (%d sent): %d lost by Shutdown (client ended with %v)",
				e.name, c.stream, got, committed, frames, int64(committed)-int64(got), c.recvErr)
		}
	}
	// The listener is gone: a new connection is refused (or closed at
	// once, never served).
	if c, err := rawDialErr(srv.addr); err == nil {
		c.SetDeadline(time.Now().Add(hangLimit))
		c.Write(encode([]byte("late")))
		if p, err := readFrame(c); err == nil {
			t.Errorf("a connection after Shutdown was served (echo %q)", p)
		}
		c.Close()
	}
	for _, err := range srv.errs() {
		t.Error(err)
	}
	var sent, recv uint64
	for _, c := range clients {
		sent += c.sent.Load()
		recv += c.recv.Load()
	}
	noteFrames(ce.name, sent, recv, 0, 0)
}

// TestFaultCloseThenDrain: a link sends frames, closes its sending half
// (Tx.Close) at once, and keeps receiving: a raw peer echoes every byte
// and half-closes after the last one. The link receives every echo, then
// io.EOF. (Its receive queue fills while it is still sending, so the
// peer's end of stream arrives while echoes wait to be received.)
//
// r[verify link.tx.close] r[verify link.rx.eof] r[verify link.split]
func TestFaultCloseThenDrain(t *testing.T) {
	forClients(t, "Tx.Close then drain echoes", func(t *testing.T, e *engine) {
		skipBug(t, e, bugDrainAfterClose)
		const rounds, n = 20, 100
		fails := 0
		for round := range rounds {
			ln := rawListen(t)
			l := dialLink(t, e, ln.Addr().String(), framelink.Options{MaxFrame: 64 << 10, HighWater: 256 << 10, LowWater: 64 << 10})
			peer := acceptRaw(t, ln)
			ctx := testCtx(t)
			go func() {
				// A plain copy loop: io.Copy between sockets would splice
				// through pooled pipes that only a GC closes.
				buf := make([]byte, 32<<10)
				for {
					n, err := peer.Read(buf)
					if n > 0 {
						if _, werr := peer.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						break
					}
				}
				peer.CloseWrite()
			}()
			serr := make(chan error, 1)
			go func() {
				for i := range n {
					if err := l.Tx().Send(ctx, make([]byte, (i*7919)%(64<<10))); err != nil {
						serr <- err
						return
					}
				}
				serr <- l.Tx().Close()
			}()
			got := 0
			var end error
			for {
				f, err := l.Rx().Recv(ctx)
				if err != nil {
					end = err
					break
				}
				if want := (got * 7919) % (64 << 10); f.Len() != want {
					t.Fatalf("round %d: echo %d has %d bytes, want %d", round, got, f.Len(), want)
				}
				f.Release()
				got++
			}
			if err := <-serr; err != nil {
				t.Fatalf("round %d: sending: %v", round, err)
			}
			if got != n || !errors.Is(end, io.EOF) || errors.Is(end, io.ErrUnexpectedEOF) {
				fails++
				t.Logf("round %d: %d of %d echoes, then %v", round, got, n, end)
			}
			l.Close()
		}
		if fails > 0 {
			t.Errorf("%s: %d of %d rounds lost echoes that the peer had sent before its clean end of stream", e.name, fails, rounds)
		}
	})
}

// TestFaultCloseDuringRecv: Link.Close from one goroutine while another is
// blocked in Recv (with a context that can end, and with one that cannot)
// and a third in Reserve on a full budget: all return promptly with
// ErrClosed, and the race detector sees nothing.
//
// r[verify link.close] r[verify link.split]
func TestFaultCloseDuringRecv(t *testing.T) {
	forClients(t, "Close during Recv and Reserve", func(t *testing.T, e *engine) {
		skipBug(t, e, bugCloseRecvRace)
		for round := range 20 {
			ln := rawListen(t)
			l := dialLink(t, e, ln.Addr().String(), framelink.Options{HighWater: 1 << 10, LowWater: 256})
			peer := acceptRaw(t, ln)
			peer.SetReadBuffer(4 << 10)
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			recvErr := make(chan error, 1)
			go func() {
				c := ctx
				if round%2 == 1 {
					c = context.Background() // cannot end: only Close can stop it
				}
				_, err := l.Rx().Recv(c)
				recvErr <- err
			}()
			sendErr := make(chan error, 1)
			go func() {
				p := make([]byte, 64<<10)
				for {
					if err := l.Tx().Send(ctx, p); err != nil {
						sendErr <- err
						return
					}
				}
			}()
			if round%3 == 0 {
				peer.Write(encode([]byte("x"))) // sometimes a frame is in flight
			}
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for what, c := range map[string]chan error{"Recv": recvErr, "Send": sendErr} {
				select {
				case err := <-c:
					if err != nil && !errors.Is(err, framelink.ErrClosed) && !resetErr(err) {
						t.Errorf("round %d: %s after Close: %v, want ErrClosed", round, what, err)
					}
				case <-ctx.Done():
					t.Fatalf("round %d: %s still blocked after Close", round, what)
				}
			}
			cancel()
		}
	})
}

// TestFaultCloseRacingSenders: many short connections from every client
// engine to the netstd pull echo server (which half-closes gracefully),
// each closing its sending half (Tx.Close) while several goroutines are
// still sending. Every frame whose Commit returned nil comes back, in
// order, then io.EOF; nothing else is acceptable (the peer is graceful).
//
// r[verify link.tx.close] r[verify link.tx.concurrent] r[verify link.rx.eof]
func TestFaultCloseRacingSenders(t *testing.T) {
	ref := engines["netstd"]
	if ref == nil || ref.listen == nil {
		t.Skip("needs the netstd engine as the reference server")
	}
	conns := 60
	if testing.Short() {
		conns = 20
	}
	forClients(t, "Tx.Close racing senders", func(t *testing.T, e *engine) {
		skipBug(t, e, bugCloseResets)
		checkLeaks(t, ref)
		cfg := lossConfig{conns: 1, maxStreams: 3, frames: 60, maxFrame: 4096}
		o := framelink.Options{MaxFrame: uint32(cfg.maxFrame), HighWater: 64 << 10, LowWater: 16 << 10}
		srv := startEcho(t, ref, pull, o, 12)
		seed := testSeed(t)
		ctx := testCtx(t)
		for i := range conns {
			l, err := e.dial(ctx, "tcp", srv.addr, o)
			if err != nil {
				t.Fatal(err)
			}
			s := seed + uint64(i)
			r := runConn(ctx, l, uint32(i+1), cfg, s|1, false, 0) // odd seeds: some close early
			l.Close()
			if r.err != nil {
				t.Fatalf("%s connection %d (seed %#x, FRAMELINK_SEED=%#x): %v", e.name, i, s|1, seed, r.err)
			}
			noteFrames(e.name, r.sent, r.recv, r.bsent, r.brecv)
		}
		srv.waitClosed(t, int64(conns))
	})
}
