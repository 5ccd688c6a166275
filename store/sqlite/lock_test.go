package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/sqlite"
)

func TestFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open: %v, want an in-use error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// TestOpenReleasesLeases checks that the leases of a closed store are
// dropped at the next Open, making their deliveries due at once.
func TestOpenReleasesLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := leaseOne(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantClaimable(t, s, ids)
}

// leaseOne stores two deliveries, claims one and leases the other at
// insert, both for a day, and returns their ids.
func leaseOne(s *sqlite.Store) ([]string, error) {
	ctx := context.Background()
	ep := endpoint("acme")
	if err := s.EndpointInsert(ctx, ep); err != nil {
		return nil, err
	}
	a, b := insert("acme", ep, 1), insert("acme", ep, 2)
	b.Deliveries[0].LeaseOwner, b.Deliveries[0].LeaseUntil = "node-a", t0.Add(24*time.Hour)
	if _, err := s.EventInsertMany(ctx, []hookd.EventInsert{a, b}); err != nil {
		return nil, err
	}
	cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "node-a", Now: t0, LeaseUntil: t0.Add(24 * time.Hour), Max: 10})
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, fmt.Errorf("claimed %d, want 1", len(cs))
	}
	return []string{a.Deliveries[0].ID, b.Deliveries[0].ID}, nil
}

// wantClaimable fails unless exactly ids are claimable at t0.
func wantClaimable(t *testing.T, s *sqlite.Store, ids []string) {
	t.Helper()
	cs, err := s.DeliveryClaimMany(context.Background(), hookd.DeliveryClaimParams{Owner: "node-b", Now: t0, LeaseUntil: t0.Add(time.Minute), Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range cs {
		got[c.Delivery.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("%s is not claimable after restart", id)
		}
	}
	if len(cs) != len(ids) {
		t.Errorf("claimed %d, want %d", len(cs), len(ids))
	}
}

// TestKilledProcess opens the database in a child process, leases
// deliveries there, kills it with SIGKILL while it holds the lock, and
// checks that the lock went with it and that the next Open makes the
// deliveries due at once.
func TestKilledProcess(t *testing.T) {
	if path := os.Getenv("HOOKD_SQLITE_CHILD"); path != "" {
		child(path)
		return
	}
	path := filepath.Join(t.TempDir(), "hookd.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcess$")
	cmd.Env = append(os.Environ(), "HOOKD_SQLITE_CHILD="+path)
	cmd.Stderr = os.Stderr
	// The child waits on its stdin: killed, or EOF if this test dies.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	ids := strings.Fields(strings.TrimPrefix(line, "ready "))
	if !strings.HasPrefix(line, "ready ") || len(ids) != 2 {
		t.Fatalf("child said %q", line)
	}

	ctx := context.Background()
	if _, err := sqlite.Open(ctx, path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("Open while the child holds the database: %v, want an in-use error", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after the child was killed: %v", err)
	}
	defer s.Close()
	wantClaimable(t, s, ids)
}

// child leases deliveries, says so on stdout, and waits to be killed.
func child(path string) {
	s, err := sqlite.Open(context.Background(), path)
	if err == nil {
		var ids []string
		if ids, err = leaseOne(s); err == nil {
			fmt.Printf("ready %s\n", strings.Join(ids, " "))
			_, _ = io.Copy(io.Discard, os.Stdin)
		}
	}
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(2)
}
