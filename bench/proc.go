//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// serverProc is the parent's handle on a server-under-test process.
type serverProc struct {
	name   string // engine/kind
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	addr   string
	mu     sync.Mutex // one control exchange at a time
}

// startServerProc re-execs this binary as `-serve engine/kind` and waits
// for it to report its address.
func startServerProc(engine, kind string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	p := &serverProc{name: engine + "/" + kind, stderr: &tailBuffer{max: 8 << 10}}
	p.cmd = exec.Command(exe, serveArg, p.name)
	p.cmd.Stderr = p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.stdout = bufio.NewReader(out)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", p.name, err)
	}
	line, err := p.readLine(20 * time.Second)
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("%s server did not report its address: %w%s", p.name, err, p.stderrNote())
	}
	if a, ok := strings.CutPrefix(line, "addr "); ok {
		p.addr = a
		return p, nil
	}
	p.kill()
	return nil, fmt.Errorf("%s server: %s%s", p.name, strings.TrimPrefix(line, "error "), p.stderrNote())
}

// readLine reads one line of the child's stdout, with a timeout.
func (p *serverProc) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := p.stdout.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && r.s == "" {
			return "", r.err
		}
		return r.s, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("timeout after %v", timeout)
	}
}

// stats asks the server for its procStats; with gc the server collects
// garbage first.
func (p *serverProc) stats(gc bool) (procStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := "stats\n"
	if gc {
		cmd = "stats gc\n"
	}
	if _, err := io.WriteString(p.stdin, cmd); err != nil {
		return procStats{}, fmt.Errorf("%s server control: %w%s", p.name, err, p.stderrNote())
	}
	line, err := p.readLine(30 * time.Second)
	if err != nil {
		return procStats{}, fmt.Errorf("%s server control: %w%s", p.name, err, p.stderrNote())
	}
	js, ok := strings.CutPrefix(line, "stats ")
	if !ok {
		return procStats{}, fmt.Errorf("%s server control: unexpected reply %q", p.name, line)
	}
	var s procStats
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		return procStats{}, fmt.Errorf("%s server control: %w", p.name, err)
	}
	return s, nil
}

// stop asks the server to shut down and waits for it; it kills the
// process if it does not exit in time.
func (p *serverProc) stop() error {
	p.mu.Lock()
	io.WriteString(p.stdin, "quit\n")
	p.stdin.Close()
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s server exit: %w%s", p.name, err, p.stderrNote())
		}
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s server did not exit within 10s of quit; killed%s", p.name, p.stderrNote())
	}
}

// stopInto stops the server (stop) and records a failure to exit in errs;
// every run defers it.
func (p *serverProc) stopInto(errs *runErrors) {
	if err := p.stop(); err != nil {
		errs.add(err)
	}
}

func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func (p *serverProc) stderrNote() string {
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		return "; server stderr: " + s
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
