package e2e

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

// binary is the hookd executable TestMain built for this run.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hookd")
	build := exec.Command("go", "build", "-o", binary, "./cmd/hookd")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building hookd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// newAdminKey returns a key in hookd's form for --admin-key.
func newAdminKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "hk_" + base64.RawURLEncoding.EncodeToString(b)
}

// serverConfig says how to start a hookd serve process.
type serverConfig struct {
	// DB is the SQLite file; empty means a new one in t.TempDir().
	DB string
	// DatabaseURL, when set, replaces DB (for PostgreSQL).
	DatabaseURL string
	// AdminKey defaults to a fresh key.
	AdminKey string
	// NoAdminKey starts without --admin-key, so that hookd generates one
	// if the store has none (see server.GeneratedKey).
	NoAdminKey bool
	// NoAllowLoopback leaves out --allow-network 127.0.0.0/8, so that
	// deliveries to local receivers are blocked.
	NoAllowLoopback bool
	// Args are added to the command line.
	Args []string
	// Env is added to the environment.
	Env []string
}

// server is one running hookd serve process.
type server struct {
	t        testing.TB
	cmd      *exec.Cmd
	DB       string
	AdminKey string
	URL      string // http://127.0.0.1:PORT

	done      chan struct{} // closed when the process has exited
	waitErr   error
	generated chan string // receives the key of an "admin key (shown once)" line

	mu  sync.Mutex
	log bytes.Buffer // stdout and stderr, for failure reports
}

// The lines hookd prints that the tests read: its address on stderr, a
// generated admin key on stdout.
var (
	listeningRe    = regexp.MustCompile(`msg=listening addr=(\S+)`)
	generatedKeyRe = regexp.MustCompile(`^admin key \(shown once\): (hk_\S+)$`)
)

// startServer starts hookd serve and returns once it logged its address
// and answers /healthz. The process is killed at the end of the test if
// still running, and its output is logged if the test failed.
func startServer(t testing.TB, cfg serverConfig) *server {
	t.Helper()
	if cfg.DB == "" {
		cfg.DB = filepath.Join(t.TempDir(), "hookd.db")
	}
	if cfg.AdminKey == "" && !cfg.NoAdminKey {
		cfg.AdminKey = newAdminKey()
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + cfg.DB
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL, "--log-level", "debug"}
	if !cfg.NoAdminKey {
		args = append(args, "--admin-key", cfg.AdminKey)
	}
	if !cfg.NoAllowLoopback {
		args = append(args, "--allow-network", "127.0.0.0/8")
	}
	args = append(args, cfg.Args...)
	s := &server{t: t, DB: cfg.DB, AdminKey: cfg.AdminKey, done: make(chan struct{}), generated: make(chan string, 1)}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = append(cleanEnv(), cfg.Env...)
	dieWithParent(s.cmd)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start hookd: %v", err)
	}
	addr := make(chan string, 1)
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() { defer copiers.Done(); s.scan(stdout, generatedKeyRe, s.generated) }()
	go func() { defer copiers.Done(); s.scan(stderr, listeningRe, addr) }()
	go func() {
		copiers.Wait() // Wait must not run before the pipes are drained
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("hookd output (%s):\n%s", strings.Join(args, " "), s.Output())
		}
	})

	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		t.Fatalf("hookd exited before listening (%v):\n%s", s.waitErr, s.Output())
	case <-time.After(30 * time.Second):
		t.Fatalf("hookd did not log its address within 30s:\n%s", s.Output())
	}
	s.waitHealthy()
	return s
}

// cleanEnv is the test's environment without HOOKD_* variables, so that a
// developer's settings do not leak into the servers under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			env = append(env, kv)
		}
	}
	return env
}

// scan copies r's lines to the log and sends the first submatch of re, once,
// to found.
func (s *server) scan(r io.Reader, re *regexp.Regexp, found chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.log.WriteString(line)
		s.log.WriteByte('\n')
		s.mu.Unlock()
		if found != nil {
			if m := re.FindStringSubmatch(line); m != nil {
				found <- m[1]
				found = nil
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// GeneratedKey returns the admin key the process printed, or "" if it
// printed none before it exited or within timeout.
func (s *server) GeneratedKey(timeout time.Duration) string {
	select {
	case k := <-s.generated:
		return k
	case <-s.done:
		select {
		case k := <-s.generated:
			return k
		default:
			return ""
		}
	case <-time.After(timeout):
		return ""
	}
}

// Output returns everything the process printed so far.
func (s *server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) waitHealthy() {
	s.t.Helper()
	eventually(s.t, 10*time.Second, "GET /healthz answers 200", func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Signal sends sig and waits up to timeout for the process to exit,
// returning its exit code (-1 when killed by a signal).
func (s *server) Signal(sig os.Signal, timeout time.Duration) int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("hookd did not exit within %v of %v", timeout, sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it.
func (s *server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// callAs sends a request with key ("" for none) and returns the status
// and body. body is JSON-encoded unless it is a string or nil.
func (s *server) callAs(key, method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// must sends a request with the admin key, fails the test unless the
// status is want, and decodes the body into out (when not nil).
func (s *server) must(want int, method, path string, body, out any) {
	s.t.Helper()
	s.mustAs(s.AdminKey, want, method, path, body, out)
}

func (s *server) mustAs(key string, want int, method, path string, body, out any) {
	s.t.Helper()
	status, b := s.callAs(key, method, path, body)
	if status != want {
		s.t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

// eventually polls cond every 20ms until it holds, failing the test after
// timeout. It is for state only observable by asking (the API); events
// that arrive on channels are waited for with select.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting until %s", timeout, what)
		}
		<-tick.C
	}
}
