package reliability

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	gn "github.com/panjf2000/gnet/v2"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/transport/gnet/gnetcodec"
	"github.com/framelink/framelink/transport/netstd"
)

// Fuzzing the engines' readers with fuzzer-chosen chunkings: the input
// stream is cut where the fuzzer says, and whatever the cuts, the frames
// delivered and the way the stream ends must be those of the reference
// decoder (codec.Split over the whole input).

// chunks cuts input at the sizes given by cuts (each byte a chunk size of
// 1..256; the rest of input in one chunk once cuts run out).
func chunks(input, cuts []byte) [][]byte {
	var out [][]byte
	for len(input) > 0 {
		n := len(input)
		if len(cuts) > 0 {
			n = min(n, int(cuts[0])+1)
			cuts = cuts[1:]
		}
		out = append(out, input[:n])
		input = input[n:]
	}
	return out
}

// fuzzSeeds adds the seed corpus shared by the chunking fuzzers.
func fuzzSeeds(f *testing.F) {
	f.Add(encode([]byte("hello"), nil, []byte("world")), []byte{0, 1, 2, 3})
	f.Add(encode(bytes.Repeat([]byte{9}, 300), []byte{}), []byte{2, 250, 0})
	f.Add(append(encode([]byte("a")), header(1<<20)...), []byte{})
	f.Add(append(encode([]byte("ab")), 0x05, 0x00), []byte{0, 0, 0, 0, 0, 0, 0})
	f.Add(header(0xffffffff), []byte{1})
	f.Add(encode([]byte{}), []byte{})
	f.Add([]byte{}, []byte{})
}

const fuzzMax = 4096

// fakeConn is the part of a gnet.Conn that gnetcodec uses, over an
// in-memory inbound buffer that is filled chunk by chunk. Discarded bytes
// are poisoned, as gnet reuses that memory, so that a decoder that kept a
// view of them would be caught.
type fakeConn struct {
	gn.Conn // nil: any other method panics, flagging an unexpected call
	in      []byte
	out     bytes.Buffer
}

func (c *fakeConn) InboundBuffered() int { return len(c.in) }

func (c *fakeConn) Peek(n int) ([]byte, error) {
	if n > len(c.in) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(c.in)
	}
	return c.in[:n], nil
}

func (c *fakeConn) Discard(n int) (int, error) {
	if n <= 0 || n >= len(c.in) {
		n = len(c.in)
	}
	rest := bytes.Clone(c.in[n:])
	for i := range c.in {
		c.in[i] = 0xaa
	}
	c.in = rest
	return n, nil
}

func (c *fakeConn) Write(b []byte) (int, error) { return c.out.Write(b) }

func (c *fakeConn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		k, _ := c.out.Write(b)
		n += k
	}
	return n, nil
}

// FuzzGnetCodecChunks feeds gnetcodec.Decode the input in fuzzer-chosen
// chunks, one OnTraffic per chunk, and re-encodes what it decoded with
// Writev.
//
// r[verify transport.gnet.embed] r[verify wire.frame] r[verify wire.max]
// r[verify wire.empty] r[verify wire.truncated]
func FuzzGnetCodecChunks(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, input, cuts []byte) {
		want, wantEnd := reference(input, fuzzMax)
		k := gnetcodec.New(fuzzMax)
		c := &fakeConn{}
		var got [][]byte
		var derr error
		for _, ch := range chunks(input, cuts) {
			c.in = append(c.in, ch...)
			derr = k.Decode(c, func(p []byte) error {
				got = append(got, bytes.Clone(p))
				return nil
			})
			if derr != nil {
				break
			}
			// Decode never leaves a whole frame behind.
			if p, _, _, err := codec.Split(c.in, fuzzMax); p != nil || err != nil {
				if !errors.Is(err, framelink.ErrFrameTooLarge) {
					t.Fatalf("Decode returned with a whole frame still buffered (%d bytes)", len(c.in))
				}
			}
		}
		if derr != nil && !errors.Is(derr, framelink.ErrFrameTooLarge) {
			t.Fatalf("Decode: %v", derr)
		}
		switch {
		case errors.Is(wantEnd, framelink.ErrFrameTooLarge):
			if !errors.Is(derr, framelink.ErrFrameTooLarge) {
				t.Fatalf("oversize header not reported (Decode: %v)", derr)
			}
		case derr != nil:
			t.Fatalf("Decode: %v, reference decoder: %v", derr, wantEnd)
		case errors.Is(wantEnd, io.ErrUnexpectedEOF) != k.Pending(c):
			t.Fatalf("Pending = %v at the end, reference end %v", k.Pending(c), wantEnd)
		}
		if len(got) != len(want) {
			t.Fatalf("decoded %d frames, reference %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d: %d bytes, reference %d", i, len(got[i]), len(want[i]))
			}
		}
		if len(got) > 0 {
			if err := k.Writev(c, got...); err != nil {
				t.Fatalf("Writev: %v", err)
			}
			if !bytes.Equal(c.out.Bytes(), encode(want...)) {
				t.Fatalf("Writev wrote %d bytes, want the %d bytes of the frames", c.out.Len(), len(encode(want...)))
			}
		}
	})
}

// FuzzNetstdChunks feeds a netstd link, over net.Pipe, the input in
// fuzzer-chosen chunks (net.Pipe keeps write boundaries: every chunk is
// a separate read), then closes the pipe.
//
// r[verify transport.netstd] r[verify wire.frame] r[verify wire.max]
// r[verify wire.empty] r[verify wire.truncated] r[verify wire.eof]
// r[verify link.rx.error]
func FuzzNetstdChunks(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, input, cuts []byte) {
		want, wantEnd := reference(input, fuzzMax)
		a, b := net.Pipe()
		l, err := netstd.NewLink(a, framelink.Options{MaxFrame: fuzzMax})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for _, ch := range chunks(input, cuts) {
				if _, err := b.Write(ch); err != nil {
					return // the link closed it (oversize)
				}
			}
			b.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var got [][]byte
		var end error
		for {
			f, err := l.Rx().Recv(ctx)
			if err != nil {
				end = err
				break
			}
			got = append(got, bytes.Clone(f.Bytes()))
			f.Release()
		}
		l.Close()
		b.Close()
		<-wdone
		if errors.Is(end, context.DeadlineExceeded) {
			t.Fatalf("Recv hung after %d frames", len(got))
		}
		switch {
		case wantEnd == nil:
			if !errors.Is(end, io.EOF) || errors.Is(end, io.ErrUnexpectedEOF) {
				t.Fatalf("stream ends on a frame boundary: Recv ended with %v, want io.EOF", end)
			}
		case !errors.Is(end, wantEnd):
			t.Fatalf("Recv ended with %v, want %v", end, wantEnd)
		}
		if len(got) != len(want) {
			t.Fatalf("received %d frames, reference %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d: %d bytes, reference %d", i, len(got[i]), len(want[i]))
			}
		}
	})
}
