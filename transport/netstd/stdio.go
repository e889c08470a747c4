package netstd

import (
	"os"

	"github.com/framelink/framelink"
)

// Stdio returns a link that reads frames from the process's standard input
// and writes them to its standard output, e.g. for a child process talking
// to its parent. The link takes over os.Stdin and os.Stdout: nothing else
// may read stdin or write stdout afterwards (a stray fmt.Println would
// corrupt the stream). Tx.Close closes standard output so the peer sees a
// clean end of stream; Close closes both.
//
// On Unix, when stdin and stdout are pipes or sockets they are switched to
// non-blocking mode, so Recv honours its context without a goroutine and
// Close interrupts a pending Recv. Otherwise (a terminal, Windows) one
// goroutine reads ahead of Recv; it ends when its Read returns.
func Stdio(o framelink.Options) (framelink.Link, error) {
	return NewStreamLink(pollableFile(os.Stdin), pollableFile(os.Stdout), nil, o)
}
