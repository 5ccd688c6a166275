package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// lineWriter collects output and sends each line matching re to found.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.re != nil {
		for _, m := range w.re.FindAllSubmatch(p, -1) {
			select {
			case w.found <- string(m[1]):
			default:
			}
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// serveOnce runs "hookd serve" in-process on db until it answers /healthz,
// then cancels it, and returns its exit status and output.
func serveOnce(t *testing.T, db string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	clearEnv(t)
	out := &lineWriter{}
	errw := &lineWriter{re: regexp.MustCompile(`msg=listening addr=(\S+)`), found: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", db}, extra...)
	go func() { done <- run(ctx, args, out, errw) }()

	var addr string
	select {
	case addr = <-errw.found:
	case code := <-done:
		t.Fatalf("serve exited %d before listening:\n%s", code, errw.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not listen within 20s:\n%s", errw.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", resp.StatusCode)
	}
	cancel() // what SIGTERM does in main
	select {
	case code = <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop within 40s of cancellation")
	}
	return code, out.String(), errw.String()
}

var keyLine = regexp.MustCompile(`(?m)^admin key \(shown once\): (hk_\S+)$`)

// TestServeAdminKey: the first start on an empty store generates and
// prints an admin key, later starts do not, and --admin-key adds its key.
func TestServeAdminKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hookd.db")
	code, stdout, stderr := serveOnce(t, db)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	m := keyLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("first start printed no admin key; stdout:\n%s", stdout)
	}
	if strings.Contains(stderr, m[1]) {
		t.Error("the generated key was also logged")
	}

	code, stdout, _ = serveOnce(t, db)
	if code != exitOK || keyLine.MatchString(stdout) {
		t.Errorf("second start: exit %d, stdout %q; want 0 and no key", code, stdout)
	}

	st, err := openStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.APIKeyGetByHash(context.Background(), hookd.HashAPIKey(m[1]))
	if err != nil {
		t.Fatalf("the printed key is not in the store: %v", err)
	}
	if k.Tenant != "" || len(k.Scopes) != 1 || k.Scopes[0] != hookd.ScopeAdmin {
		t.Errorf("generated key = %+v, want admin over every tenant", k)
	}
}

func TestEnsureAdminKey(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()

	// A given key is inserted once; asking again changes nothing.
	for range 2 {
		gen, err := ensureAdminKey(ctx, st, validKey, now)
		if err != nil || gen != "" {
			t.Fatalf("ensureAdminKey(given) = %q, %v", gen, err)
		}
	}
	keys, _, err := st.APIKeyList(ctx, hookd.ListParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Prefix != validKey[:len(hookd.KeyPrefix)+8] {
		t.Fatalf("keys = %+v, want the given one", keys)
	}
	// With an admin key present, none is generated.
	if gen, err := ensureAdminKey(ctx, st, "", now); err != nil || gen != "" {
		t.Errorf("ensureAdminKey(none) with an admin present = %q, %v; want nothing", gen, err)
	}

	// A tenant key of that value must not be promoted silently.
	tenantKey := hookd.KeyPrefix + strings.Repeat("t", 32)
	if err := st.APIKeyInsert(ctx, &hookd.APIKey{ID: hookd.NewID(hookd.PrefixAPIKey), Name: "acme", Tenant: "acme",
		Scopes: []string{hookd.ScopeEventsWrite}, Prefix: hookd.APIKeyPrefix(tenantKey), Hash: hookd.HashAPIKey(tenantKey), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureAdminKey(ctx, st, tenantKey, now); err == nil {
		t.Error("a tenant key given as --admin-key was accepted")
	}
}

// TestEnsureAdminKeyIgnoresNonAdmin: tenant keys and expired admin keys do
// not count as an admin key, so one is generated.
func TestEnsureAdminKeyIgnoresNonAdmin(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for i, k := range []*hookd.APIKey{
		{Name: "tenant admin", Tenant: "acme", Scopes: []string{hookd.ScopeAdmin}},
		{Name: "expired", Scopes: []string{hookd.ScopeAdmin}, ExpiresAt: now.Add(-time.Hour)},
		{Name: "reader", Scopes: []string{hookd.ScopeEventsRead}},
	} {
		secret, hash := hookd.NewAPIKeySecret()
		k.ID, k.Prefix, k.Hash, k.CreatedAt = hookd.NewID(hookd.PrefixAPIKey), hookd.APIKeyPrefix(secret), hash, now.Add(time.Duration(i)*time.Millisecond)
		if err := st.APIKeyInsert(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := ensureAdminKey(ctx, st, "", now)
	if err != nil || !hookd.LooksLikeAPIKey(gen) {
		t.Fatalf("ensureAdminKey = %q, %v; want a new key", gen, err)
	}
	if _, err := st.APIKeyGetByHash(ctx, hookd.HashAPIKey(gen)); err != nil {
		t.Errorf("generated key not stored: %v", err)
	}
}

// TestServeAddressTaken: a taken port fails the start with status 1 and
// leaves the database free for the next process.
func TestServeAddressTaken(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "hookd.db")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", ln.Addr().String(), "--database-url", db, "--admin-key", validKey}, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "listen") {
		t.Errorf("exit %d, stderr %q; want 1 and a listen error", code, stderr.String())
	}
	st, err := openStore(context.Background(), db)
	if err != nil {
		t.Fatalf("the failed start kept the database: %v", err)
	}
	st.Close()
}
