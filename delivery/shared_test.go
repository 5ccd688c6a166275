package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/postgres"
	"github.com/hookd/hookd/store/postgres/pgtest"
)

// Two nodes on one PostgreSQL (a Waker store): nothing is leased at
// publish, the nodes claim what either published, MaxInFlight holds across
// both, and every event arrives.
func TestSharedStoreTwoNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Delay: 20 * time.Millisecond})

	var nodes []*harness
	for i := range 2 {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		must(t, st.Migrate(ctx))
		if _, ok := any(st).(hookd.Waker); !ok {
			t.Fatal("the PostgreSQL store is not a Waker")
		}
		h := &harness{t: t, ctx: ctx, tenant: "acme", changed: make(chan struct{})}
		h.eng = delivery.New(st, delivery.Options{
			Owner: fmt.Sprint("node-", i), AllowNetworks: loopback, OnRecord: h.onRecord, Logger: testLogger(t),
		})
		must(t, h.eng.Start(ctx))
		t.Cleanup(func() {
			h.stop(5 * time.Second)
			st.Close()
		})
		nodes = append(nodes, h)
		if i == 0 {
			ep := &hookd.Endpoint{
				ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: "acme", URL: r.URL, Enabled: true,
				Secrets: []hookd.Secret{{Value: hookd.NewSecret()}}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
			}
			ep.Normalize()
			ep.MaxInFlight = 2
			must(t, st.EndpointInsert(ctx, ep))
		}
	}
	const n = 40
	for i := range n {
		_, err := nodes[i%2].eng.Publish(ctx, "acme", []hookd.EventInput{{ID: fmt.Sprint("e", i), Type: "order.created", Data: json.RawMessage(`{}`)}})
		must(t, err)
	}
	reqs := r.Wait(n)
	seen := map[string]int{}
	for _, q := range reqs {
		seen[q.Header.Get("Webhook-Id")]++
	}
	eq(t, "distinct events", len(seen), n)
	_, peak := r.Concurrency()
	if peak > 2 {
		t.Errorf("peak concurrency %d across two nodes, want at most max_in_flight = 2", peak)
	}
	waitTotal(t, nodes, n)
	for i, h := range nodes {
		t.Logf("node %d recorded %d attempts", i, len(h.records()))
	}
}

func waitTotal(t *testing.T, nodes []*harness, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		total := 0
		var chans []chan struct{}
		for _, h := range nodes {
			h.mu.Lock()
			total += len(h.recs)
			chans = append(chans, h.changed)
			h.mu.Unlock()
		}
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d attempts recorded", total, n)
		}
		select {
		case <-chans[0]:
		case <-chans[1]:
		case <-time.After(time.Until(deadline)):
		}
	}
}
