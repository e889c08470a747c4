//go:build unix

package gnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
)

// idleConns is the number of connections held for the idle-memory
// measurement: the client runs in a child process, so the server's
// process pays one descriptor per connection.
const idleConns = 5000

// TestIdleClientHelper is the child process of BenchmarkIdleMemory: it
// dials FRAMELINK_IDLE_ADDR FRAMELINK_IDLE_N times, sends one frame on
// each and reads the echo, prints "ready", and holds every connection
// until its standard input closes.
func TestIdleClientHelper(t *testing.T) {
	addr := os.Getenv("FRAMELINK_IDLE_ADDR")
	if addr == "" {
		t.Skip("child process of BenchmarkIdleMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("FRAMELINK_IDLE_N"))
	conns := make([]net.Conn, 0, n)
	req := binary.LittleEndian.AppendUint32(nil, 16)
	req = append(req, make([]byte, 16)...)
	resp := make([]byte, len(req))
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		c.Write(req)
		if _, err := io.ReadFull(c, resp); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

// heapLive is the live heap after two collections (sync.Pool victims
// gone).
func heapLive() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// measureIdle starts a server with start, holds idleConns connections
// from a child process, and returns the server's live heap per
// connection.
func measureIdle(b *testing.B, start func() (net.Addr, func())) float64 {
	before := heapLive()
	addr, stop := start()
	defer stop()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientHelper$")
	cmd.Env = append(os.Environ(), "FRAMELINK_IDLE_ADDR="+addr.String(), "FRAMELINK_IDLE_N="+strconv.Itoa(idleConns))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		b.Fatalf("child: %q", line)
	}
	after := heapLive()
	return float64(int64(after)-int64(before)) / idleConns
}

// BenchmarkIdleMemory reports (run it with -benchtime 1x) the live heap
// per idle connection
// (r[perf.idle]) of framelink's Serve on gnet and of a bare gnet echo
// holding the same connections, each after one echoed frame.
// r[verify perf.idle]
func BenchmarkIdleMemory(b *testing.B) {
	for _, k := range []struct {
		name  string
		start func() (net.Addr, func())
	}{
		{"framelink", func() (net.Addr, func()) {
			s, err := Serve("tcp", "127.0.0.1:0", framelink.EchoHandler{}, framelink.Options{Multicore: true})
			if err != nil {
				b.Fatal(err)
			}
			return s.Addr(), func() { s.Shutdown(context.Background()) }
		}},
		{"bare-gnet", startBareEcho(b)},
	} {
		b.Run(k.name, func(b *testing.B) {
			// One measurement whatever b.N (each holds 5,000
			// connections for about a second).
			b.ReportMetric(measureIdle(b, k.start), "B/conn")
		})
	}
}

// bareEcho is a hand-written gnet echo of the wire format, the baseline of
// the idle measurement.
type bareEcho struct {
	gn.BuiltinEventEngine
	eng    gn.Engine
	booted chan struct{}
}

func (h *bareEcho) OnBoot(e gn.Engine) gn.Action { h.eng = e; close(h.booted); return gn.None }

// OnTraffic is the bench baseline's design: Peek everything buffered,
// walk the whole frames, write their bytes back in one Write, Discard.
func (h *bareEcho) OnTraffic(c gn.Conn) gn.Action {
	buf, err := c.Peek(-1)
	if err != nil {
		return gn.Close
	}
	done := 0
	for len(buf)-done >= 4 {
		n := int(binary.LittleEndian.Uint32(buf[done:]))
		if n > framelink.DefaultMaxFrame {
			return gn.Close
		}
		if len(buf)-done < 4+n {
			break
		}
		done += 4 + n
	}
	if done == 0 {
		return gn.None
	}
	if _, err := c.Write(buf[:done]); err != nil {
		return gn.Close
	}
	c.Discard(done)
	return gn.None
}

func startBareEcho(b *testing.B) func() (net.Addr, func()) {
	return func() (net.Addr, func()) {
		h := &bareEcho{booted: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- gn.Run(h, "tcp://127.0.0.1:0", gn.WithMulticore(true), gn.WithLogger(quietLogger{})) }()
		select {
		case <-h.booted:
		case err := <-done:
			b.Fatal(err)
		case <-time.After(10 * time.Second):
			b.Fatal("bare gnet did not boot")
		}
		addr, err := listenAddr(h.eng, "tcp")
		if err != nil {
			b.Fatal(err)
		}
		return addr, func() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			h.eng.Stop(ctx)
			<-done
		}
	}
}

// A push connection costs three allocations (the conn, its byte budget,
// its loop task): the sendq.Tx behind slots is made on the first Alloc,
// since most handlers only Send or Echo.
// r[verify perf.idle]
func TestPushConnAllocs(t *testing.T) {
	o, _ := framelink.Options{}.Normalize()
	e := newEngine(o, framelink.EchoHandler{}, false)
	if n := testing.AllocsPerRun(100, func() { _ = newConn(e, &e.opts, false) }); n != 3 {
		t.Fatalf("newConn (push) makes %v allocations, want 3", n)
	}
	// The conn itself stays in the 512-byte size class (one more field
	// would put it in the 576 class: 64 bytes more per connection).
	if size := unsafe.Sizeof(conn{}); size > 512 {
		t.Fatalf("conn is %d bytes, over the 512-byte size class", size)
	}
	c := newConn(e, &e.opts, false)
	if c.tx.Load() != nil {
		t.Fatal("a push conn made its Tx before any Alloc")
	}
	first := c.sendTx()
	if first == nil || c.sendTx() != first || c.tx.Load() != first {
		t.Fatal("sendTx does not make one Tx and keep it")
	}
}
