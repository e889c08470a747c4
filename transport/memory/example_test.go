package memory_test

import (
	"context"
	"fmt"
	"io"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/memory"
)

// Two in-process links: frames sent on one are received on the other,
// boundaries kept; after Tx.Close the peer reads io.EOF.
func ExamplePipe() {
	ctx := context.Background()
	a, b, err := memory.Pipe(framelink.Options{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()

	a.Tx().Send(ctx, []byte("hello"))
	pm, _ := a.Tx().Reserve(ctx) // the zero-copy path: write in place
	s, _ := pm.Alloc(5)
	copy(s.Bytes(), "world")
	s.Commit()
	a.Tx().Close()

	for {
		f, err := b.Rx().Recv(ctx)
		if err == io.EOF {
			fmt.Println("EOF")
			return
		}
		fmt.Printf("%s\n", f.Bytes())
		f.Release()
	}
	// Output:
	// hello
	// world
	// EOF
}
