package framelink_test

import (
	"context"
	"fmt"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/memory"
)

// The send path is reserve, alloc, write in place, commit; the receive
// path is Recv, use, Release. Any engine's links work the same way: swap
// memory.Pipe for netstd.Dial, netpoll.Dial or gnet.Dial.
func Example() {
	ctx := context.Background()
	a, b, err := memory.Pipe(framelink.Options{}) // zero Options: every default
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()

	permit, err := a.Tx().Reserve(ctx) // waits while too much output is queued
	if err != nil {
		panic(err)
	}
	slot, err := permit.Alloc(5) // transport-owned memory
	if err != nil {
		panic(err)
	}
	copy(slot.Bytes(), "hello")
	if err := slot.Commit(); err != nil { // one frame; does not wait for the peer
		panic(err)
	}
	if err := a.Tx().Send(ctx, []byte("world")); err != nil { // the one-call form
		panic(err)
	}
	a.Tx().Close() // graceful: the peer gets both frames, then io.EOF

	for {
		f, err := b.Rx().Recv(ctx)
		if err != nil {
			fmt.Println("end:", err)
			return
		}
		fmt.Printf("%s\n", f.Bytes()) // valid until Release
		f.Release()
	}
	// Output:
	// hello
	// world
	// end: EOF
}
