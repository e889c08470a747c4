package netpoll

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// A header declaring 4 GiB-1 closes that connection at once with
// ErrFrameTooLarge, without allocating anything like the declared size,
// while another connection keeps being served.
// r[verify wire.max] r[verify serve.handler]
func TestHostileHugeHeader(t *testing.T) {
	rec := newRecorder(nil)
	s := serve(t, "tcp", rec, framelink.Options{})
	good := dialRaw(t, s)
	<-rec.opened
	bad := dialRaw(t, s)
	badConn := <-rec.opened

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	hdr := binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)
	if _, err := bad.Write(append(hdr, "some payload bytes"...)); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitClose(t)
	runtime.ReadMemStats(&after)
	if ev.c != badConn {
		t.Fatal("OnClose for the wrong connection")
	}
	var tl *framelink.FrameTooLargeError
	if !errors.As(ev.err, &tl) || tl.Size != 0xFFFFFFFF || tl.Max != framelink.DefaultMaxFrame || !errors.Is(ev.err, framelink.ErrFrameTooLarge) {
		t.Fatalf("OnClose(%v), want a FrameTooLargeError{Size: 4294967295, Max: %d}", ev.err, framelink.DefaultMaxFrame)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("%d bytes allocated while rejecting a 4 GiB header", grew)
	}
	if n := ev.c.Stats().Oversize; n != 1 {
		t.Errorf("Stats().Oversize = %d, want 1", n)
	}
	if _, err := io.Copy(io.Discard, bad); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection stayed open after the oversize header")
	}
	if err := echoCheck(good, []int{10, 20}, 4); err != nil {
		t.Fatalf("the other connection: %v", err)
	}
}

// The same on a pull link: Recv reports ErrFrameTooLarge without
// allocating, and the connection is closed.
func TestHostileHugeHeaderLink(t *testing.T) {
	l, peer := rawPair(t, "tcp", framelink.Options{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := peer.Write(binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)); err != nil {
		t.Fatal(err)
	}
	_, err := l.Rx().Recv(testCtx(t))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, framelink.ErrFrameTooLarge) {
		t.Fatalf("Recv: %v, want ErrFrameTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("%d bytes allocated while rejecting a 4 GiB header", grew)
	}
	if _, err := l.Rx().Recv(testCtx(t)); err == nil {
		t.Fatal("Recv after the oversize error returned a frame")
	}
	if _, err := io.Copy(io.Discard, peer); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection stayed open after the oversize header")
	}
}

// A peer that stops in the middle of a frame holds up nobody else: other
// connections are echoed in full meanwhile, and the stalled one resumes
// when its bytes come.
func TestHostileStalledPeer(t *testing.T) {
	rec := newRecorder(nil)
	s := serve(t, "tcp", rec, framelink.Options{})
	stalled := dialRaw(t, s)
	<-rec.opened
	want := payload(1000, 2)
	wire := frame(want)
	if _, err := stalled.Write(wire[:10]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		c := dialRaw(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := echoCheck(c, []int{1, 100, 5000}, byte(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case ev := <-rec.closed:
		t.Fatalf("a connection closed while only one peer stalled: %v", ev.err)
	default:
	}
	if _, err := stalled.Write(wire[10:]); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(stalled)
	if err != nil || string(got) != string(want) {
		t.Fatalf("the stalled frame after it completed: %d bytes, %v", len(got), err)
	}
}

// Garbage from many peers neither crashes the server nor leaks
// descriptors: every connection ends with OnClose and the process's fd
// count comes back; the server still echoes afterwards.
func TestHostileGarbage(t *testing.T) {
	rec := newRecorder(nil)
	s := serve(t, "tcp", rec, framelink.Options{MaxFrame: 1 << 10})
	// Warm up netpoll's pollers (they hold descriptors of their own).
	if err := echoCheck(dialRaw(t, s), []int{1}, 0); err != nil {
		t.Fatal(err)
	}
	fds0 := countFDs(t)
	const peers = 64
	rng := rand.New(rand.NewSource(1))
	var wg sync.WaitGroup
	for i := range peers {
		junk := make([]byte, 1+rng.Intn(8192))
		rng.Read(junk)
		if i%4 == 0 {
			// A plausible header first, then junk.
			binary.LittleEndian.PutUint32(junk, uint32(rng.Intn(1<<10)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_, _ = c.Write(junk)
			if i%2 == 0 {
				// Half-close, then read what comes until the server closes
				// (a peer stalled inside a frame is kept open otherwise:
				// no FrameTimeout here).
				_ = c.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, c)
			}
		}()
	}
	wg.Wait()
	for range peers {
		<-rec.opened
		rec.waitClose(t)
	}
	if fds := countFDs(t); fds > fds0 {
		t.Errorf("%d descriptors open after the garbage, %d before", fds, fds0)
	}
	if err := echoCheck(dialRaw(t, s), []int{3, 300}, 1); err != nil {
		t.Fatalf("echo after the garbage: %v", err)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}
