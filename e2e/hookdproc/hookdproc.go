// Package hookdproc runs the real hookd binary as a child process for
// tests that drive it from the outside (e2e, e2e/cluster): Main builds the
// binary once per test binary, Start runs "hookd serve" on a free loopback
// port and returns once it answers, and a Process is called over HTTP,
// signalled, killed and read from.
//
// It exists so that those packages share one way of starting, watching and
// ending a server, and keep only what their tests are about. The choices
// that matter: the port is the one hookd reports in its "listening addr="
// log line (a port picked beforehand could be taken by the time hookd
// binds it); the child gets the test's environment without HOOKD_*
// variables, so a developer's settings do not leak in; on Linux the kernel
// kills it if the test binary dies first (a go test timeout), so that no
// server outlives its test; and everything it prints is kept, logged when
// the test fails, and searchable with Await.
package hookdproc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the executable Main built.
var binary string

// Main builds hookd, runs the tests and removes the build. A package using
// Start or Command calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(hookdproc.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookdproc:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hookd")
	// By import path: go finds the module from the test's directory,
	// wherever in the module that is.
	build := exec.Command("go", "build", "-o", binary, "github.com/hookd/hookd/cmd/hookd")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "hookdproc: building hookd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Command returns a command running hookd with args, in the environment
// Start gives servers.
func Command(args ...string) *exec.Cmd {
	if binary == "" {
		panic("hookdproc: Main did not run (call it from TestMain)")
	}
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	dieWithParent(cmd)
	return cmd
}

// NewAdminKey returns a fresh key in hookd's form, for --admin-key.
func NewAdminKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "hk_" + base64.RawURLEncoding.EncodeToString(b)
}

// Options say how to start a server.
type Options struct {
	// Name tells the process apart in failure reports (default "hookd").
	Name string
	// Args follow "serve --addr 127.0.0.1:0".
	Args []string
	// Env is added to the environment.
	Env []string
}

// Process is one running hookd serve.
type Process struct {
	Name string
	URL  string // http://127.0.0.1:PORT

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and its output is read
	err  error         // from Wait, once done

	mu      sync.Mutex
	lines   []string      // stdout and stderr, as they came
	changed chan struct{} // closed and replaced at each line
}

// listeningRe matches the line hookd logs once it accepts connections.
var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// Start starts hookd serve and returns once it logged its address and
// answers /healthz. The process is killed at the end of the test if still
// running, and its output is logged if the test failed.
func Start(t testing.TB, opts Options) *Process {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "hookd"
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0"}, opts.Args...)
	p := &Process{Name: opts.Name, t: t, done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = Command(args...)
	p.cmd.Env = append(p.cmd.Env, opts.Env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	var copiers sync.WaitGroup
	copiers.Go(func() { p.read(stdout) })
	copiers.Go(func() { p.read(stderr) })
	go func() {
		copiers.Wait() // Wait must not run before the pipes are drained
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s (hookd %s):\n%s", p.Name, strings.Join(args, " "), p.Output())
		}
	})

	addr := p.Await(listeningRe, time.Minute)
	if addr == "" {
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening (%v):\n%s", p.Name, p.err, p.Output())
		default:
			t.Fatalf("%s did not log its address within a minute:\n%s", p.Name, p.Output())
		}
	}
	p.URL = "http://" + addr
	p.waitHealthy(30 * time.Second)
	return p
}

// read keeps r's lines until it ends.
func (p *Process) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // a line too long stops the scanner
}

// Await returns the first submatch of re (the whole match if re has no
// group) in the first line of the output it matches, waiting up to timeout
// for that line. It returns "" if the process exits or the time passes
// without one.
func (p *Process) Await(re *regexp.Regexp, timeout time.Duration) string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines[seen:], p.changed
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m[len(m)-1]
			}
		}
		select {
		case <-changed:
		case <-p.done:
			// Every line was read before done: one more look.
			select {
			case <-changed:
				continue
			default:
				return ""
			}
		case <-deadline.C:
			return ""
		}
	}
}

// Output returns everything the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n") + "\n"
}

// waitHealthy polls /healthz (nothing else tells when the server is ready
// to answer) until it answers 200.
func (p *Process) waitHealthy(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s does not answer /healthz within %v (%v)", p.Name, timeout, err)
		}
		<-tick.C
	}
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// ExitCode returns the exit code of the exited process, -1 if a signal
// ended it.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig and waits up to timeout for the process to exit,
// returning its exit code (-1 when killed by a signal).
func (p *Process) Signal(sig os.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %v to %s: %v", sig, p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v of %v", p.Name, timeout, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it. It may be called from any goroutine.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// client bounds every call, so that a hung server fails a test instead of
// stalling it until go test's timeout.
var client = &http.Client{Timeout: 30 * time.Second}

// Do sends a request with key as bearer token ("" for none) and returns the
// status and body; err is set only when no full answer came. body is
// JSON-encoded unless it is a string (sent as it is) or nil.
func (p *Process) Do(key, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, p.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}
