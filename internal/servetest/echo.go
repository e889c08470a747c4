package servetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// ReplyModes answers each frame according to its payload's first byte,
// mixing Conn.Echo (in place where the engine can) with copies: 'E' Echo,
// 'S' Send, 'M' modify the last byte then Echo, 'P' Echo of payload[1:],
// 'D' Echo twice, 'K' no reply, 'A' Echo then a 3-byte slot, 'X' a
// 1-byte Send then Echo. Replies computes the same replies independently
// of any engine. Payloads are at least 2 bytes.
var ReplyModes = framelink.HandlerFuncs{Frame: func(c framelink.Conn, p []byte) {
	switch p[0] {
	case 'E': // the echo
		_ = c.Echo(p)
	case 'S': // a copy
		_ = c.Send(p)
	case 'M': // modified before Echo: the modified bytes are sent
		p[len(p)-1] ^= 0xff
		_ = c.Echo(p)
	case 'P': // a part of the payload
		_ = c.Echo(p[1:])
	case 'D': // twice
		_ = c.Echo(p)
		_ = c.Echo(p)
	case 'K': // no reply
	case 'A': // an echo, then a slot
		_ = c.Echo(p)
		if s, err := c.Alloc(3); err == nil {
			copy(s.Bytes(), "abc")
			_ = s.Commit()
		}
	case 'X': // a Send, then the echo
		_ = c.Send([]byte("x"))
		_ = c.Echo(p)
	}
}}

func wireFrame(p []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(p))), p...)
}

// Replies is what ReplyModes sends for the frames (wire bytes) of stream.
func Replies(stream []byte) []byte {
	var out []byte
	for len(stream) > 0 {
		n := int(binary.LittleEndian.Uint32(stream))
		p := append([]byte(nil), stream[4:4+n]...)
		stream = stream[4+n:]
		switch p[0] {
		case 'E', 'S':
			out = append(out, wireFrame(p)...)
		case 'M':
			p[len(p)-1] ^= 0xff
			out = append(out, wireFrame(p)...)
		case 'P':
			out = append(out, wireFrame(p[1:])...)
		case 'D':
			out = append(out, wireFrame(p)...)
			out = append(out, wireFrame(p)...)
		case 'A':
			out = append(out, wireFrame(p)...)
			out = append(out, wireFrame([]byte("abc"))...)
		case 'X':
			out = append(out, wireFrame([]byte("x"))...)
			out = append(out, wireFrame(p)...)
		}
	}
	return out
}

// EchoMixed checks Conn.Echo on an engine's Serve (r[serve.reply]): a
// client sends frames in writes of random sizes (so frames share reads
// and are split across them, some larger than 64 KiB), and the handler
// answers each with Echo, Send, a slot, an Echo of part of the payload,
// an Echo after modifying the payload, two Echoes or nothing. The bytes
// received must be exactly the replies, in commit order, on every engine,
// whether it echoes in place or copies.
func EchoMixed(t *testing.T, serve Serve) {
	t.Helper()
	srv := start(t, serve, ReplyModes, framelink.Options{})
	const modes = "ESMPDKAX"
	r := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	for i := range 3000 {
		n := 2 + r.IntN(200)
		if i%500 == 7 {
			n = 70 << 10
		}
		p := make([]byte, n)
		for k := range p {
			p[k] = byte(r.Uint32())
		}
		p[0] = modes[r.IntN(len(modes))]
		stream = append(stream, wireFrame(p)...)
	}
	expect := Replies(stream)

	exchange(t, srv.Addr().String(), stream, expect, r)
}

// start serves h on 127.0.0.1, port 0, and shuts the server down (10 s
// for its output to drain) when the test ends.
func start(t *testing.T, serve Serve, h framelink.Handler, o framelink.Options) framelink.Server {
	t.Helper()
	srv, err := serve("tcp", "127.0.0.1:0", h, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return srv
}

// exchange writes stream to the server at addr in writes of random sizes
// (1 B to 20 KB, from r) while reading its replies, and checks that they
// are exactly expect.
func exchange(t *testing.T, addr string, stream, expect []byte, r *rand.Rand) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	werr := make(chan error, 1)
	go func() {
		rest := stream
		for len(rest) > 0 {
			n := min(len(rest), 1+r.IntN(20000))
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
		}
		werr <- nil
	}()
	got := make([]byte, len(expect))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %d bytes of replies: %v", len(expect), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, expect) {
		i := 0
		for i < len(got) && got[i] == expect[i] {
			i++
		}
		t.Errorf("replies differ from byte %d of %d", i, len(expect))
	}
}
