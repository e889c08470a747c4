package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "echo-test")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "echo")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running echo binary.
type server struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string // stdout lines after the listening line
	done  chan error  // cmd.Wait's result
}

func start(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, lines: make(chan string, 16), done: make(chan error, 1)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), "listening on ") {
				s.lines <- sc.Text()
				continue
			}
			first <- sc.Text()
		}
		close(s.lines)
		s.done <- cmd.Wait()
	}()
	select {
	case line := <-first:
		_, s.addr, _ = strings.Cut(line, "listening on ")
		s.addr = strings.TrimSpace(s.addr)
	case l, ok := <-s.lines:
		t.Fatalf("no listening line; got %q (open %v)", l, ok)
	case <-time.After(60 * time.Second): // a hang bound, not a timing assertion
		t.Fatal("no listening line")
	}
	return s
}

func (s *server) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second)) // hang bound only
	return c
}

// stop sends sig to the server and checks that it exits cleanly (status
// 0).
func (s *server) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("exit after %v: %v", sig, err)
	}
	s.done <- nil // for the cleanup
}

// frame encodes [u32 LE len][payload], written here by hand, independent
// of the codec package.
func frame(p []byte) []byte {
	b := make([]byte, 4+len(p))
	binary.LittleEndian.PutUint32(b, uint32(len(p)))
	copy(b[4:], p)
	return b
}

func readFrame(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.LittleEndian.Uint32(h[:]))
	_, err := io.ReadFull(c, p)
	return p, err
}

func fill(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*13)
	}
	return p
}

func expectEcho(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	got, err := readFrame(c)
	if err != nil {
		t.Fatalf("reading echo of %d bytes: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo of %d bytes differs (got %d bytes)", len(want), len(got))
	}
}

func TestEchoMaxFrame(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-max-frame", "100")
	a := s.dial(t)
	p := fill(100, 1)
	a.Write(frame(p))
	expectEcho(t, a, p)
	a.Write(frame(fill(101, 2)))
	if _, err := readFrame(a); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("101-byte frame with -max-frame 100: %v", err)
	}
	s.stop(t, os.Interrupt)
}

func TestEchoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-engine", "nope", "-addr", "127.0.0.1:0"}, `unknown engine "nope"`},
		{[]string{"-max-frame", "0", "-addr", "127.0.0.1:0"}, "out of range"},
	} {
		out, err := exec.Command(binPath, tc.args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("%v: exit %v, want failure", tc.args, err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("%v: output %q lacks %q", tc.args, out, tc.want)
		}
	}
}
