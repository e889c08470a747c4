package netstd

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// Replies from callbacks and from another goroutine interleave without
// loss or corruption while requests keep arriving: every kick of the
// serving goroutine's read is seen.
func TestServeMixedSenders(t *testing.T) {
	const requests, ticks = 3000, 3000
	h := newCloseLog()
	s := serveTCP(t, h, framelink.Options{})
	defer shutdown(t, s)
	c := rawDial(t, s)
	sc := <-h.opened
	tickErr := make(chan error, 1)
	go func() {
		for i := range ticks {
			p := binary.LittleEndian.AppendUint32([]byte("tick"), uint32(i))
			if err := sc.Send(p); err != nil {
				tickErr <- err
				return
			}
			if i%64 == 0 {
				runtime.Gosched()
			}
		}
		tickErr <- nil
	}()
	go func() {
		for i := range requests {
			p := binary.LittleEndian.AppendUint32([]byte("echo"), uint32(i))
			b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
			if _, err := c.Write(append(b, p...)); err != nil {
				return
			}
		}
	}()
	var nextEcho, nextTick uint32
	for nextEcho < requests || nextTick < ticks {
		p, err := rawRead(c)
		if err != nil {
			t.Fatalf("after %d echoes and %d ticks: %v", nextEcho, nextTick, err)
		}
		if len(p) != 8 {
			t.Fatalf("frame of %d bytes", len(p))
		}
		n := binary.LittleEndian.Uint32(p[4:])
		switch string(p[:4]) {
		case "echo":
			if n != nextEcho {
				t.Fatalf("echo %d, want %d", n, nextEcho)
			}
			nextEcho++
		case "tick":
			if n != nextTick {
				t.Fatalf("tick %d, want %d", n, nextTick)
			}
			nextTick++
		default:
			t.Fatalf("corrupt frame %q", p)
		}
	}
	if err := <-tickErr; err != nil {
		t.Fatal(err)
	}
}

// Connections sending garbage are closed and leak no descriptors.
func TestServeGarbageNoFDLeak(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := countFDs()
	h := newCloseLog()
	h.opened = make(chan framelink.Conn, 1000)
	h.closed = make(chan error, 1000)
	s := serveTCP(t, h, framelink.Options{MaxFrame: 1 << 16})
	const conns = 200
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialRaw(s)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			g := make([]byte, 1+i*37%5000)
			for j := range g {
				g[j] = byte(i*31 + j*7)
			}
			c.Write(g)
			if i%2 == 0 {
				c.Write(bytes.Repeat([]byte{0xff}, 8)) // oversize header
			}
		}()
	}
	wg.Wait()
	for range conns {
		<-h.closed // every connection ended, whatever the garbage
	}
	shutdown(t, s)
	if after := countFDs(); after > before {
		t.Fatalf("descriptors: %d before, %d after", before, after)
	}
}
