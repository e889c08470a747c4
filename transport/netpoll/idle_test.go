package netpoll

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// BenchmarkIdleConns measures what an idle connection costs (r[perf.idle]):
// it opens conns connections (default 5,000: two descriptors each in this
// process, under the 20,000 limit; NETPOLL_IDLE_CONNS overrides), echoes
// one 64-byte frame on each so every buffer has been used, then reports
// the growth of the Go heap (HeapInuse after GC) and of the process's RSS
// per connection, for framelink's Serve(EchoHandler) and for the same echo
// hand-written on netpoll. Both include the client side (a net.Conn per
// connection, the same for both), so the difference between the two is
// framelink's own cost. Run with -benchtime 1x.
// r[verify perf.idle]
func BenchmarkIdleConns(b *testing.B) {
	n := 5000
	if s := os.Getenv("NETPOLL_IDLE_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, kind := range []string{"framelink", "bare"} {
		b.Run(kind, func(b *testing.B) {
			heap0, rss0 := memNow()
			var addr net.Addr
			if kind == "bare" {
				addr = startBareEcho(b, "tcp").Addr()
			} else {
				addr = serve(b, "tcp", framelink.EchoHandler{}, framelink.Options{}).Addr()
			}
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			p := frame(payload(64, 1))
			for range n {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					b.Fatalf("after %d connections: %v", len(conns), err)
				}
				conns = append(conns, c)
				_ = c.SetDeadline(time.Now().Add(testTimeout))
				if _, err := c.Write(p); err != nil {
					b.Fatal(err)
				}
				if _, err := readFrame(c); err != nil {
					b.Fatal(err)
				}
			}
			heap1, rss1 := memNow()
			b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/conn")
			b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/conn")
			b.ReportMetric(float64(n), "conns")
		})
	}
}

// memNow returns the Go heap in use after a full GC and the process's RSS.
func memNow() (heap, rss int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap = int64(ms.HeapInuse)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return heap, rss
}
