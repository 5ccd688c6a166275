package cluster

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/e2e/hookdproc"
	"github.com/hookd/hookd/store/postgres/pgtest"
)

// TestThroughput measures deliveries per second end to end with one, two
// and three nodes on PostgreSQL, next to one node on SQLite: events are
// published in batches of 100 through all nodes by 8 publishers, to one
// endpoint whose receiver answers at once, and the clock runs from the
// first publish to the last arrival. It is a measurement, not a check, and
// runs only with HOOKD_CLUSTER_BENCH=1 (HOOKD_CLUSTER_BENCH_EVENTS sets
// the number of events, default 20000).
func TestThroughput(t *testing.T) {
	if os.Getenv("HOOKD_CLUSTER_BENCH") != "1" {
		t.Skip("a measurement; set HOOKD_CLUSTER_BENCH=1 to run it")
	}
	events := 20000
	if v, err := strconv.Atoi(os.Getenv("HOOKD_CLUSTER_BENCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	type result struct {
		name string
		rate float64
	}
	var results []result
	run := func(name string, dbs []string) {
		t.Run(name, func(t *testing.T) {
			key := hookdproc.NewAdminKey()
			var nodes []*hookdproc.Process
			for i, db := range dbs {
				nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), db, key))
			}
			var got atomic.Int64
			done := make(chan struct{})
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if got.Add(1) == int64(events) {
					close(done)
				}
			}))
			t.Cleanup(recv.Close)
			status, body, err := nodes[0].Do(key, "POST", "/v1/tenants/acme/endpoints", map[string]any{
				"url": recv.URL, "max_in_flight": 256,
			})
			if err != nil || status != http.StatusCreated {
				t.Fatalf("create endpoint: %d %s %v", status, body, err)
			}
			const batch = 100
			batches := make(chan int)
			var wg sync.WaitGroup
			start := time.Now()
			for w := range 8 {
				wg.Go(func() {
					n := nodes[w%len(nodes)]
					for b := range batches {
						evs := make([]map[string]any, batch)
						for i := range evs {
							evs[i] = map[string]any{"type": "order.created", "data": map[string]any{"n": b*batch + i, "pad": "0123456789012345678901234567890123456789"}}
						}
						status, body, err := n.Do(key, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": evs})
						if err != nil || status != http.StatusAccepted {
							t.Errorf("publish: %d %s %v", status, body, err)
							return
						}
					}
				})
			}
			for b := range events / batch {
				batches <- b
			}
			close(batches)
			wg.Wait()
			published := time.Since(start)
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				t.Fatalf("%d of %d delivered after 5 minutes", got.Load(), events)
			}
			elapsed := time.Since(start)
			rate := float64(events) / elapsed.Seconds()
			t.Logf("%s: %d events published in %v, delivered in %v: %.0f deliveries/s", name, events,
				published.Round(time.Millisecond), elapsed.Round(time.Millisecond), rate)
			results = append(results, result{name, rate})
		})
	}
	run("sqlite, 1 node", []string{"sqlite:" + filepath.Join(t.TempDir(), "hookd.db")})
	for n := 1; n <= 3; n++ {
		db := pgtest.NewDatabase(t)
		dbs := make([]string, n)
		for i := range dbs {
			dbs[i] = db
		}
		run(fmt.Sprintf("postgres, %d node(s)", n), dbs)
	}
	for _, r := range results {
		fmt.Printf("%-20s %8.0f deliveries/s\n", r.name, r.rate)
	}
}
