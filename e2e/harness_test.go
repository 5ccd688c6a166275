package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hookd/hookd/e2e/hookdproc"
)

func TestMain(m *testing.M) { os.Exit(hookdproc.Main(m)) }

// newAdminKey returns a key in hookd's form for --admin-key.
func newAdminKey() string { return hookdproc.NewAdminKey() }

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

// server is one running hookd serve process, with the key the tests call
// it with.
type server struct {
	*hookdproc.Process
	t        testing.TB
	DB       string
	AdminKey string
}

// generatedKeyRe matches the line on which hookd prints an admin key it
// generated.
var generatedKeyRe = regexp.MustCompile(`^admin key \(shown once\): (hk_\S+)$`)

// startServer starts hookd serve on cfg's database (see hookdproc.Start).
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
	args := []string{"--database-url", dbURL, "--log-level", "debug"}
	if !cfg.NoAdminKey {
		args = append(args, "--admin-key", cfg.AdminKey)
	}
	if !cfg.NoAllowLoopback {
		args = append(args, "--allow-network", "127.0.0.0/8")
	}
	args = append(args, cfg.Args...)
	p := hookdproc.Start(t, hookdproc.Options{Args: args, Env: cfg.Env})
	return &server{Process: p, t: t, DB: cfg.DB, AdminKey: cfg.AdminKey}
}

// GeneratedKey returns the admin key the process printed, or "" if it
// printed none before it exited or within timeout.
func (s *server) GeneratedKey(timeout time.Duration) string {
	return s.Await(generatedKeyRe, timeout)
}

// callAs sends a request with key ("" for none) and returns the status
// and body. body is JSON-encoded unless it is a string or nil.
func (s *server) callAs(key, method, path string, body any) (int, []byte) {
	s.t.Helper()
	status, out, err := s.Do(key, method, path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, out
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
