// Command stdio shows the stdio link: a parent process starts a child (this
// same program, re-executed with FRAMELINK_STDIO_CHILD=1) and exchanges
// frames with it over the child's standard input and output.
//
//	go run ./examples/stdio -n 1000
//
// The child answers every frame with its bytes reversed; the parent checks
// each answer, half-closes its side, waits for the child's clean end of
// stream and exit, and prints a summary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/transport/netstd"
)

// childEnv selects the child role.
const childEnv = "FRAMELINK_STDIO_CHILD"

func main() {
	if os.Getenv(childEnv) == "1" {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, "stdio child:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 1000, "frames to exchange")
	flag.Parse()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdio:", err)
		os.Exit(1)
	}
	got, err := parent(context.Background(), exe, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdio:", err)
		os.Exit(1)
	}
	fmt.Printf("exchanged %d frames with the child over its stdin/stdout\n", got)
}

// child serves the parent over stdin/stdout: every frame comes back
// reversed. On the parent's end of stream it half-closes and returns.
func child() error {
	l, err := netstd.Stdio(framelink.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	for {
		f, err := l.Rx().Recv(ctx)
		if errors.Is(err, io.EOF) {
			return l.Tx().Close()
		}
		if err != nil {
			return err
		}
		// Reply in place in the slot: no intermediate copy.
		pm, err := l.Tx().Reserve(ctx)
		if err != nil {
			f.Release()
			return err
		}
		s, err := pm.Alloc(f.Len())
		if err != nil {
			f.Release()
			return err
		}
		b := s.Bytes()
		copy(b, f.Bytes())
		f.Release()
		slices.Reverse(b)
		if err := s.Commit(); err != nil {
			return err
		}
	}
}

// parent starts exe as the child, sends n frames, checks every answer and
// returns how many came back. The child's stderr goes to ours.
func parent(ctx context.Context, exe string, n int) (int, error) {
	inR, inW, err := os.Pipe() // parent -> child stdin
	if err != nil {
		return 0, err
	}
	outR, outW, err := os.Pipe() // child stdout -> parent
	if err != nil {
		inR.Close()
		inW.Close()
		return 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	err = cmd.Start()
	inR.Close() // the child holds its own copies
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return 0, err
	}
	l, err := netstd.NewStreamLink(outR, inW, nil, framelink.Options{})
	if err != nil {
		inW.Close()
		outR.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	got, err := exchange(ctx, l, n)
	l.Close()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("child: %w", werr)
	}
	return got, err
}

// exchange sends n frames from one goroutine while it receives the
// answers in this one, then half-closes and expects the child's EOF.
func exchange(ctx context.Context, l framelink.Link, n int) (int, error) {
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := l.Tx().Send(ctx, message(i)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- l.Tx().Close()
	}()
	got := 0
	for ; got < n; got++ {
		f, err := l.Rx().Recv(ctx)
		if err != nil {
			return got, fmt.Errorf("frame %d: %w", got, err)
		}
		want := message(got)
		slices.Reverse(want)
		ok := string(f.Bytes()) == string(want)
		f.Release()
		if !ok {
			return got, fmt.Errorf("frame %d: wrong answer", got)
		}
	}
	if err := <-sendErr; err != nil {
		return got, err
	}
	if _, err := l.Rx().Recv(ctx); !errors.Is(err, io.EOF) {
		return got, fmt.Errorf("after the last answer: %v, want EOF", err)
	}
	return got, nil
}

// message is frame i: its size varies from 0 to ~70 KiB.
func message(i int) []byte {
	n := (i * 7919) % 1000
	if i%97 == 0 {
		n = 70000
	}
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i + j*31)
	}
	return p
}
