package netpoll

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// BenchmarkRoundTrip: one frame each way between two netpoll pull links
// (Send, Recv, Release on each side). framelink allocates nothing here;
// the 4 allocs/op (about 100 B) are netpoll's: each frame arrives at an
// empty input buffer, and netpoll starts the link's OnRequest as a task
// of its worker pool (a closure in connection.onProcess, a worker
// goroutine in gopool), once per side per round trip — what a
// hand-written netpoll server pays per request too (go test -bench
// RoundTrip/64B -memprofile, -memprofilerate=1: all in onProcess and
// gopool's worker.run). BenchmarkStream shows the per-frame cost when
// frames arrive in bursts.
// r[verify perf.alloc]
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			a, z := pullPair(b, "tcp", framelink.Options{})
			ctx := context.Background()
			p := payload(size, 1)
			echo := func() error {
				f, err := z.Rx().Recv(ctx)
				if err != nil {
					return err
				}
				err = z.Tx().Send(ctx, f.Bytes())
				f.Release()
				return err
			}
			b.ReportAllocs()
			b.SetBytes(int64(2 * size))
			errc := make(chan error, 1)
			go func() {
				for range b.N {
					if err := echo(); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			b.ResetTimer()
			for range b.N {
				if err := a.Tx().Send(ctx, p); err != nil {
					b.Fatal(err)
				}
				f, err := a.Rx().Recv(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if f.Len() != size {
					b.Fatalf("got %d bytes", f.Len())
				}
				f.Release()
			}
			b.StopTimer()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkStream: one link streams frames to another, which receives
// them (Send on one goroutine, Recv and Release on another): netpoll's
// OnRequest task now serves a burst of frames, and the steady state is 0
// allocs per frame.
// r[verify perf.alloc]
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			a, z := pullPair(b, "tcp", framelink.Options{})
			ctx := context.Background()
			p := payload(size, 1)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			errc := make(chan error, 1)
			go func() {
				for range b.N {
					f, err := z.Rx().Recv(ctx)
					if err != nil {
						errc <- err
						return
					}
					if f.Len() != size {
						errc <- fmt.Errorf("got %d bytes", f.Len())
						return
					}
					f.Release()
				}
				errc <- nil
			}()
			b.ResetTimer()
			for range b.N {
				if err := a.Tx().Send(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTripSlot: the same with Reserve/Alloc/Commit on the
// sending side (the slot is a pool buffer copied into netpoll's Writer at
// Commit).
func BenchmarkRoundTripSlot(b *testing.B) {
	a, z := pullPair(b, "tcp", framelink.Options{})
	ctx := context.Background()
	const size = 64
	errc := make(chan error, 1)
	one := []byte{1}
	go func() {
		for range b.N {
			f, err := z.Rx().Recv(ctx)
			if err != nil {
				errc <- err
				return
			}
			f.Release()
			if err := z.Tx().Send(ctx, one); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pm, err := a.Tx().Reserve(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s, err := pm.Alloc(size)
		if err != nil {
			b.Fatal(err)
		}
		s.Bytes()[0] = 1
		if err := s.Commit(); err != nil {
			b.Fatal(err)
		}
		f, err := a.Rx().Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		f.Release()
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEcho compares framelink's Serve(BatchEchoHandler) with the same echo
// hand-written on netpoll (startBareEcho): 64 connections × 16 frames in
// flight, from plain net.Conn clients in this process. cpu-ns/frame is the
// whole process's CPU (clients included, same for both) per echoed frame.
// Run with -count and compare the two with benchstat, or alternate them.
// r[verify perf.overhead]
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, kind := range []string{"framelink", "bare"} {
			b.Run(fmt.Sprintf("%dB/%s", size, kind), func(b *testing.B) {
				var addr net.Addr
				if kind == "bare" {
					addr = startBareEcho(b, "tcp").Addr()
				} else {
					addr = serve(b, "tcp", framelink.BatchEchoHandler{}, framelink.Options{}).Addr()
				}
				echoLoad(b, addr, 64, 16, size)
			})
		}
	}
}

// echoLoad runs b.N echoed frames over conns connections with inflight
// frames in flight on each, and reports frames/s and CPU per frame.
func echoLoad(b *testing.B, addr net.Addr, conns, inflight, size int) {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial(addr.Network(), addr.String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	var issued atomic.Int64
	n := int64(b.N)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoConn(c, &issued, n, inflight, size); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	el := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/el.Seconds(), "frames/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/frame")
}

// echoConn keeps inflight frames in flight on c until issued reaches n,
// checking every echo's length and first and last bytes.
func echoConn(c net.Conn, issued *atomic.Int64, n int64, inflight, size int) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	p := payload(size, 7)
	fr := frame(p)
	br := bufio.NewReaderSize(c, 64<<10)
	wbuf := make([]byte, 0, inflight*len(fr))
	outstanding := 0
	for range inflight {
		if issued.Add(1) > n {
			break
		}
		wbuf = append(wbuf, fr...)
		outstanding++
	}
	if _, err := c.Write(wbuf); err != nil {
		return err
	}
	wbuf = wbuf[:0]
	var hdr [4]byte
	in := make([]byte, size)
	for outstanding > 0 {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		if m := binary.LittleEndian.Uint32(hdr[:]); m != uint32(size) {
			return fmt.Errorf("echo of %d bytes came back with %d", size, m)
		}
		if _, err := io.ReadFull(br, in); err != nil {
			return err
		}
		if size > 0 && (in[0] != p[0] || in[size-1] != p[size-1]) {
			return fmt.Errorf("echo bytes differ")
		}
		outstanding--
		if issued.Add(1) <= n {
			wbuf = append(wbuf, fr...)
			outstanding++
		}
		if br.Buffered() == 0 && len(wbuf) > 0 {
			if _, err := c.Write(wbuf); err != nil {
				return err
			}
			wbuf = wbuf[:0]
		}
	}
	return nil
}

// BenchmarkSendPath compares the two send paths on one link whose peer
// drains everything: Send (header+payload Malloc'd in netpoll's Writer,
// one copy) and Reserve/Alloc/Commit (the slot is a pool buffer, copied
// into the Writer at Commit). The difference is the price of slots that
// can be held, discarded and committed in any order without holding the
// Writer.
func BenchmarkSendPath(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, path := range []string{"send", "slot"} {
			b.Run(fmt.Sprintf("%dB/%s", size, path), func(b *testing.B) {
				l, peer := rawPair(b, "tcp", framelink.Options{})
				go func() { _, _ = io.Copy(io.Discard, peer) }()
				ctx := context.Background()
				p := payload(size, 1)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if path == "send" {
						if err := l.Tx().Send(ctx, p); err != nil {
							b.Fatal(err)
						}
						continue
					}
					pm, err := l.Tx().Reserve(ctx)
					if err != nil {
						b.Fatal(err)
					}
					s, err := pm.Alloc(size)
					if err != nil {
						b.Fatal(err)
					}
					copy(s.Bytes(), p)
					if err := s.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := l.Tx().Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
