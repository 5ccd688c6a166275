package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/e2e/hookdproc"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/postgres/pgtest"
)

// TestPostgresTwoNodes runs two hookd nodes on one PostgreSQL database,
// migrated beforehand with "hookd migrate": events published to either
// node are delivered, each seen by both nodes' APIs, and both stop cleanly.
func TestPostgresTwoNodes(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	out, err := hookdproc.Command("migrate", "--database-url", dbURL).CombinedOutput()
	if strings.Contains(string(out), "not built yet") {
		t.Skipf("this hookd has no PostgreSQL store: %s", out)
	}
	if err != nil {
		t.Fatalf("hookd migrate: %v\n%s", err, out)
	}

	key := newAdminKey()
	a := startServer(t, serverConfig{DatabaseURL: dbURL, AdminKey: key})
	b := startServer(t, serverConfig{DatabaseURL: dbURL, AdminKey: key})
	rcv := hookdtest.NewReceiver(t)
	a.createEndpoint("acme", obj{"url": rcv.URL, "max_in_flight": 4})

	const n = 100
	for i := range n {
		node := a
		if i%2 == 1 {
			node = b
		}
		ev := node.publish("acme", obj{"id": fmt.Sprintf("pg_%03d", i), "type": "order.created", "data": obj{"i": i}})
		if ev.DeliveryCount != 1 {
			t.Fatalf("event %d: delivery_count %d, want 1 (the endpoint made on the other node)", i, ev.DeliveryCount)
		}
	}
	seen := map[string]int{}
	defer func() {
		if t.Failed() {
			var p page[hookd.Delivery]
			a.must(http.StatusOK, "GET", "/v1/tenants/acme/deliveries?status=pending&limit=1000", nil, &p)
			t.Logf("%d events received; pending deliveries: %+v", len(seen), p.Data)
		}
	}()
	eventually(t, 30*time.Second, fmt.Sprintf("all %d events are received", n), func() bool {
		clear(seen)
		for _, r := range rcv.Requests() {
			seen[r.Header.Get("Webhook-Id")]++
		}
		return len(seen) == n
	})
	for _, node := range []*server{a, b} {
		eventually(t, 10*time.Second, "every delivery is succeeded on both nodes", func() bool {
			var p page[struct{ ID string }]
			node.must(http.StatusOK, "GET", "/v1/tenants/acme/deliveries?status=succeeded&limit=1000", nil, &p)
			return len(p.Data) == n
		})
	}
	t.Logf("%d requests for %d events", rcv.Count(), n)
	for _, node := range []*server{a, b} {
		if code := node.Signal(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
	}
}
