package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// TestGeneratedAdminKey: without --admin-key, the first start prints a key
// once; later starts print nothing and the key keeps working; a key given
// later with --admin-key is added beside it.
func TestGeneratedAdminKey(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "hookd.db")

	s := startServer(t, serverConfig{DB: db, NoAdminKey: true})
	key := s.GeneratedKey(10 * time.Second)
	if !strings.HasPrefix(key, hookd.KeyPrefix) {
		t.Fatalf("first start printed no admin key:\n%s", s.Output())
	}
	var keys page[hookd.APIKey]
	s.mustAs(key, http.StatusOK, "GET", "/v1/api-keys", nil, &keys)
	if len(keys.Data) != 1 || !slices.Equal(keys.Data[0].Scopes, []string{hookd.ScopeAdmin}) || !strings.HasPrefix(key, keys.Data[0].Prefix) {
		t.Errorf("api keys = %+v, want the one admin key", keys.Data)
	}
	if c := strings.Count(s.Output(), key); c != 1 {
		t.Errorf("the key was printed %d times, want once:\n%s", c, s.Output())
	}
	if code := s.Signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	s = startServer(t, serverConfig{DB: db, NoAdminKey: true})
	s.mustAs(key, http.StatusOK, "GET", "/v1/api-keys", nil, nil)
	if code := s.Signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if strings.Contains(s.Output(), "admin key") || s.GeneratedKey(0) != "" {
		t.Errorf("second start printed an admin key:\n%s", s.Output())
	}

	given := newAdminKey()
	s = startServer(t, serverConfig{DB: db, AdminKey: given})
	s.mustAs(given, http.StatusOK, "GET", "/v1/api-keys", nil, &keys)
	s.mustAs(key, http.StatusOK, "GET", "/v1/api-keys", nil, nil)
	if len(keys.Data) != 2 {
		t.Errorf("%d keys after adding --admin-key, want 2", len(keys.Data))
	}
	if strings.Contains(s.Output(), given) {
		t.Error("hookd printed the key given with --admin-key")
	}
}

// TestGracefulShutdown sends SIGTERM while an attempt is in flight: hookd
// exits 0 once the attempt has finished and been recorded.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "hookd.db")
	key := newAdminKey()
	rcv := hookdtest.NewReceiver(t)
	rcv.SetDefault(hookdtest.Response{Delay: 500 * time.Millisecond})

	s := startServer(t, serverConfig{DB: db, AdminKey: key})
	s.createEndpoint("acme", obj{"url": rcv.URL})
	ev := s.publish("acme", obj{"type": "order.created", "data": obj{}})
	rcv.Wait(1) // the attempt is in flight
	if code := s.Signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(s.Output(), "msg=stopped") {
		t.Errorf("no orderly stop in the log:\n%s", s.Output())
	}

	// The attempt ended well within the shutdown timeout, so hookd waited
	// for it and recorded it before exiting: it is not sent again.
	s = startServer(t, serverConfig{DB: db, AdminKey: key})
	d := s.deliveryOf("acme", ev.ID)
	if d.State != hookd.StateSucceeded || d.Attempts != 1 {
		t.Errorf("after restart the delivery is %s with %d attempts, want succeeded with 1", d.State, d.Attempts)
	}
	if n := rcv.Count(); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
}

// TestKill9 publishes events to a slow receiver, kills hookd with SIGKILL
// at a random moment — while publishing, or later while delivering — and
// restarts it on the same database: every event that was answered 202 must
// reach the receiver at least once. Events whose publish got no answer are
// published again, as a client would; that they are then 200 or 202 is the
// idempotency contract.
func TestKill9(t *testing.T) {
	t.Parallel()
	const n = 500
	db := filepath.Join(t.TempDir(), "hookd.db")
	key := newAdminKey()
	rcv := hookdtest.New(t, hookdtest.Options{Timeout: 60 * time.Second})
	rcv.SetDefault(hookdtest.Response{Delay: 2 * time.Millisecond})

	s := startServer(t, serverConfig{DB: db, AdminKey: key})
	s.createEndpoint("acme", obj{
		"url":           rcv.URL,
		"max_in_flight": 4,
		"timeout":       "5s",
		"retry":         obj{"schedule": []string{"100ms", "100ms", "500ms", "1s", "1s", "1s"}},
	})

	duringPublish := rand.IntN(2) == 0
	killAt := n/10 + rand.IntN(n*8/10)
	t.Logf("killing after %d %s", killAt, map[bool]string{true: "accepted publishes", false: "received deliveries"}[duringPublish])

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k9_%03d", i)
	}
	var (
		accepted  sync.Map // id → true once answered 202
		nAccepted atomic.Int64
		killOnce  sync.Once
	)
	kill := func() { killOnce.Do(s.Kill) }
	publishAll := func(s *server, list []string) {
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for id := range work {
					status, err := publishRaw(s, "acme", id)
					if err != nil || (status != http.StatusAccepted && status != http.StatusOK) {
						continue // the process is gone; this one is republished later
					}
					accepted.Store(id, true)
					if status == http.StatusAccepted && nAccepted.Add(1) == int64(killAt) && duringPublish {
						kill()
					}
				}
			})
		}
		for _, id := range list {
			work <- id
		}
		close(work)
		wg.Wait()
	}
	publishAll(s, ids)
	if !duringPublish {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := rcv.WaitContext(ctx, killAt)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %d deliveries before the kill: %v", killAt, err)
		}
		kill()
	}
	if code := s.ExitCode(); code != -1 {
		t.Fatalf("hookd exited with %d before the kill", code)
	}
	var before []string
	accepted.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })
	t.Logf("before the kill: %d of %d events accepted, %d requests received", len(before), n, rcv.Count())

	s2 := startServer(t, serverConfig{DB: db, AdminKey: key})
	var missing []string
	for _, id := range ids {
		if _, ok := accepted.Load(id); !ok {
			missing = append(missing, id)
		}
	}
	publishAll(s2, missing)
	for _, id := range missing {
		if _, ok := accepted.Load(id); !ok {
			t.Fatalf("event %s was not accepted after the restart", id)
		}
	}

	seen := map[string]int{}
	eventually(t, 60*time.Second, fmt.Sprintf("all %d events are received", n), func() bool {
		clear(seen)
		for _, r := range rcv.Requests() {
			seen[r.Header.Get("Webhook-Id")]++
		}
		return len(seen) >= n
	})
	for _, id := range before {
		if seen[id] == 0 {
			t.Errorf("event %s was accepted before the kill and never received", id)
		}
	}
	var dups []string
	for id, c := range seen {
		if c > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", id, c))
		}
	}
	t.Logf("received %d requests for %d events; %d delivered more than once (at-least-once): %v",
		rcv.Count(), len(seen), len(dups), dups)
	if len(seen) != n {
		t.Errorf("received %d distinct events, want %d", len(seen), n)
	}
}

// publishRaw publishes event id without failing the test, for use from
// goroutines and against a process that may be gone.
func publishRaw(s *server, tenant, id string) (int, error) {
	status, body, err := s.Do(s.AdminKey, "POST", "/v1/tenants/"+tenant+"/events", obj{"id": id, "type": "order.created", "data": obj{"id": id}})
	if err != nil {
		return 0, err // no answer, or cut off mid-answer: not an acknowledgement
	}
	var ev publishedEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return 0, err
	}
	return status, nil
}
