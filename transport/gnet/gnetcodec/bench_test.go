//go:build unix

package gnetcodec

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// BenchmarkEcho: Decode and Write in an existing handler's OnTraffic, one
// frame in flight from a raw client; the codec does not allocate.
// r[verify perf.alloc] r[verify transport.gnet.embed]
func BenchmarkEcho(b *testing.B) {
	_, addr := startTB(b)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := binary.LittleEndian.AppendUint32(nil, 64)
	req = append(req, make([]byte, 64)...)
	resp := make([]byte, len(req))
	rt := func() {
		c.Write(req)
		if _, err := io.ReadFull(c, resp); err != nil {
			b.Fatal(err)
		}
	}
	for range 1000 {
		rt()
	}
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	for b.Loop() {
		rt()
	}
}
