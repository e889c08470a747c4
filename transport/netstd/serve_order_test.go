package netstd

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/framelink/framelink"
)

// mixedHandler replies to each frame with Sends small (accumulated) and
// large (Direct slots) and an Alloc'd slot, interleaved, so that frames
// committed on both paths must leave in commit order. It is a plain
// Handler (embedding framelink.EchoHandler would make it a BatchHandler,
// whose OnFrame is never called).
type mixedHandler struct{}

func (mixedHandler) OnOpen(framelink.Conn)         {}
func (mixedHandler) OnClose(framelink.Conn, error) {}

func mixedReply(tag byte, i uint32, size int) []byte {
	p := bytes.Repeat([]byte{tag}, size)
	binary.LittleEndian.PutUint32(p, i)
	return p
}

var mixedSizes = []int{8, 3000, 20 << 10, 700, 9000, 16, 40 << 10, 4}

func (mixedHandler) OnFrame(c framelink.Conn, b []byte) {
	i := binary.LittleEndian.Uint32(b)
	for k, n := range mixedSizes {
		p := mixedReply(byte('a'+k), i, n)
		if k%3 == 1 {
			s, err := c.Alloc(len(p))
			if err != nil {
				panic(err)
			}
			copy(s.Bytes(), p)
			if err := s.Commit(); err != nil {
				panic(err)
			}
			continue
		}
		if err := c.Send(p); err != nil {
			panic(err)
		}
	}
}

// r[verify serve.reply] Replies committed through Send (accumulated or
// not) and through slots arrive in the order they were committed.
func TestServeSendOrderMixed(t *testing.T) {
	s := serveTCP(t, mixedHandler{}, framelink.Options{})
	defer shutdown(t, s)
	c := rawDial(t, s)
	const frames = 64
	done := make(chan error, 1)
	go func() {
		var w []byte
		for i := uint32(0); i < frames; i++ {
			w = binary.LittleEndian.AppendUint32(w, 4)
			w = binary.LittleEndian.AppendUint32(w, i)
		}
		_, err := c.Write(w)
		done <- err
	}()
	for i := uint32(0); i < frames; i++ {
		for k, n := range mixedSizes {
			p, err := rawRead(c)
			if err != nil {
				t.Fatalf("frame %d reply %d: %v", i, k, err)
			}
			if want := mixedReply(byte('a'+k), i, n); !bytes.Equal(p, want) {
				t.Fatalf("frame %d reply %d: got %d bytes starting %x, want %d bytes of %c", i, k, len(p), p[:min(8, len(p))], n, byte('a'+k))
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
