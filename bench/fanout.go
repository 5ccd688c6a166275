package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// fanout publishes one event to a tenant of many endpoints and measures
// the time to the 202: first with the engine's endpoint cache cold (as
// after a start, or each time the cache's TTL ends), then warm; and the
// time until every endpoint got the first event.
func (b *bench) fanout(ctx context.Context) *result {
	r := &result{}
	child, err := startChildReceiver()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer child.close()
	sp, err := b.stores.fresh(ctx, "fanout")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	n, err := startNode(ctx, sp, nodeOptions{}, b.log)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer n.stop(5 * time.Second)

	// Endpoints go straight into the store, from many goroutines so the
	// writer commits them in groups: through the API, each would also
	// make the engine reload the tenant, which is the cost under test.
	const tenant = "fanout"
	eps := b.cfg.fanout
	t0 := time.Now()
	if err := insertEndpoints(ctx, n.store, tenant, eps, func(i int) string { return child.URL + "/e/" + strconv.Itoa(i) }); err != nil {
		r.Error = err.Error()
		return r
	}
	fmt.Fprintf(os.Stderr, "bench: fanout: %d endpoints stored in %.1fs\n", eps, time.Since(t0).Seconds())

	client := newLoadClient(1)
	defer client.CloseIdleConnections()
	a := &apiClient{c: client, base: n.URL, key: n.Key}
	var sent time.Time
	publish := func(i int64) (time.Duration, error) {
		body := appendEvent(nil, "fanout.event", i, time.Now().UnixNano(), 1024)
		var out struct {
			DeliveryCount int `json:"delivery_count"`
		}
		sent = time.Now()
		st, err := a.do(ctx, http.MethodPost, "/v1/tenants/"+tenant+"/events", body, &out)
		d := time.Since(sent)
		if err != nil {
			return d, err
		}
		if st != http.StatusAccepted || out.DeliveryCount != eps {
			return d, fmt.Errorf("publish: status %d with %d deliveries, want 202 with %d", st, out.DeliveryCount, eps)
		}
		return d, nil
	}
	timeout := time.Minute + time.Duration(eps)*time.Millisecond
	cold, err := publish(0)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	done, err := child.waitCount(int64(eps), timeout)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.FanoutDeliveredMS = round(ms(done.Sub(sent)), 0)
	// Let the writer finish recording the first event's attempts, so
	// that the second publish measures the warm cache, not that queue.
	if _, ok := n.out.attempts.wait(int64(eps), timeout); !ok {
		r.Error = fmt.Sprintf("%d of %d attempts recorded", n.out.attempts.value(), eps)
		return r
	}
	warm, err := publish(1)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if _, err := child.waitCount(int64(2*eps), timeout); err != nil {
		r.Error = err.Error()
		return r
	}
	if _, ok := n.out.succeeded.wait(int64(2*eps), timeout); !ok {
		r.Error = fmt.Sprintf("%d of %d deliveries recorded", n.out.succeeded.value(), 2*eps)
		return r
	}
	r.Endpoints, r.Events, r.Deliveries = eps, 2, int64(2*eps)
	r.Cold202MS, r.Warm202MS = round(ms(cold), 1), round(ms(warm), 1)
	r.met(cold < time.Second && warm < time.Second, "202 < 1 s")
	r.headline = fmt.Sprintf("1 event → %d endpoints: 202 after %.0f ms (endpoint cache cold), %.0f ms (warm); all delivered %.0f ms after the publish",
		eps, r.Cold202MS, r.Warm202MS, r.FanoutDeliveredMS)
	return r
}

// insertEndpoints stores count endpoints of tenant, enabled, subscribed to
// everything, with the defaults the API would give them.
func insertEndpoints(ctx context.Context, st hookd.Store, tenant string, count int, url func(int) string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := &counter{max: int64(count)}
	for range 64 {
		wg.Go(func() {
			for {
				i, k := next.take(1)
				if k == 0 {
					return
				}
				now := time.Now().UTC()
				ep := &hookd.Endpoint{
					ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: tenant, URL: url(int(i)), Enabled: true,
					Secrets: []hookd.Secret{{Value: hookd.NewSecret()}}, CreatedAt: now, UpdatedAt: now,
				}
				ep.Normalize()
				err := ep.Validate()
				if err == nil {
					err = st.EndpointInsert(ctx, ep)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
