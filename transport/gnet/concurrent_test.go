//go:build unix

package gnet

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/framelink/framelink"
)

// Replies sent from the callback and from other goroutines at once, on
// the same connection, never interleave on the wire: every frame arrives
// whole (the direct writer, the loop's batches and gnet's buffer take
// turns).
// r[verify link.tx.concurrent] r[verify serve.reply]
func TestServeSendFromCallbackAndGoroutines(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	h := framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
		c.Send(p) // from the callback
		q := append([]byte("ack:"), p...)
		wg.Add(1)
		go func() { // and from another goroutine
			defer wg.Done()
			c.Send(q)
		}()
	}}
	s := serve(t, h, framelink.Options{Multicore: true})
	c := rawDial(t, s.Addr())
	const n = 3000
	go func() {
		for i := range n {
			p := binary.LittleEndian.AppendUint32(nil, uint32(i))
			p = append(p, bytes.Repeat([]byte{byte(i)}, i%3000)...)
			if _, err := c.Write(frame(p)); err != nil {
				return
			}
		}
	}()
	echoes, acks := make([]bool, n), make([]bool, n)
	for range 2 * n {
		p, err := readFrame(c)
		if err != nil {
			t.Fatal(err)
		}
		seen := echoes
		if bytes.HasPrefix(p, []byte("ack:")) {
			p, seen = p[4:], acks
		}
		if len(p) < 4 {
			t.Fatalf("corrupt frame of %d bytes", len(p))
		}
		i := int(binary.LittleEndian.Uint32(p))
		if i >= n || len(p) != 4+i%3000 || seen[i] || !bytes.Equal(p[4:], bytes.Repeat([]byte{byte(i)}, i%3000)) {
			t.Fatalf("corrupt or duplicated frame %d (%d bytes)", i, len(p))
		}
		seen[i] = true
	}
}
