package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// publishAt publishes count events numbered from lo at rate events/s, each
// from its own goroutine so that a slow publish does not delay the next
// one's send time, and returns the first error.
func publishAt(ctx context.Context, a *apiClient, tenant, typ string, lo, count int64, rate, dataSize int) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range count {
		if i > 0 {
			<-tick.C
		}
		wg.Go(func() {
			sent := time.Now()
			body := appendEvent(make([]byte, 0, dataSize+128), typ, lo+i, sent.UnixNano(), dataSize)
			if err := a.publish(ctx, tenant, body); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// latency publishes 50 events/s to one fast endpoint and measures
// publish→receive, then sends a few events to an endpoint whose first
// attempt fails and whose schedule retries after 1s, and measures the
// time from the first attempt's arrival to the retry's.
func (b *bench) latency(ctx context.Context) *result {
	r := &result{}
	sp, err := b.stores.fresh(ctx, "latency")
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
	count := int64(b.cfg.latencyRate) * int64(b.cfg.latencyFor/time.Second)
	const warm = 20
	rcv, err := newReceiver("127.0.0.1:0", count+warm)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	rcv.lat, rcv.latBelow = &samples{}, count
	rcv.start()
	defer rcv.close()

	// The retry probe's endpoint fails each event's first attempt.
	var (
		mu          sync.Mutex
		first, diff = map[int64]time.Time{}, samples{}
		retried     tally
	)
	probe, err := newReceiver("127.0.0.1:0", int64(b.cfg.retryProbes))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	probe.answer = func(n int64, seen bool, at time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		t0, ok := first[n]
		if !ok {
			first[n] = at
			return http.StatusInternalServerError
		}
		diff.add(at.Sub(t0))
		retried.add(1, at)
		return http.StatusOK
	}
	probe.start()
	defer probe.close()

	client := newLoadClient(8)
	defer client.CloseIdleConnections()
	a := &apiClient{c: client, base: n.URL, key: n.Key}
	const tenant = "bench"
	if _, err := a.createEndpoint(ctx, tenant, endpointSpec{URL: rcv.URL, EventTypes: []string{"latency.*"}}); err != nil {
		r.Error = err.Error()
		return r
	}
	if _, err := a.createEndpoint(ctx, tenant, endpointSpec{URL: probe.URL, EventTypes: []string{"retry.*"}, Retry: schedule("1s")}); err != nil {
		r.Error = err.Error()
		return r
	}

	if err := publishAt(ctx, a, tenant, "latency.warm", count, warm, b.cfg.latencyRate, b.cfg.dataSize); err != nil {
		r.Error = "warm-up: " + err.Error()
		return r
	}
	if err := publishAt(ctx, a, tenant, "latency.event", 0, count, b.cfg.latencyRate, b.cfg.dataSize); err != nil {
		r.Error = err.Error()
		return r
	}
	if _, ok := rcv.unique.wait(count+warm, 30*time.Second); !ok {
		r.Error = fmt.Sprintf("%d of %d deliveries arrived", rcv.unique.value()-warm, count)
		return r
	}
	var got int
	got, r.P50MS, r.P99MS, r.MaxMS = rcv.lat.stats()
	r.P50MS, r.P99MS, r.MaxMS = round(r.P50MS, 2), round(r.P99MS, 2), round(r.MaxMS, 2)
	r.Events, r.Deliveries = count, int64(got)
	r.Duplicates = rcv.dups.Load()

	probes := int64(b.cfg.retryProbes)
	if err := publishAt(ctx, a, tenant, "retry.probe", 0, probes, 5, 64); err != nil {
		r.Error = "retry probe: " + err.Error()
		return r
	}
	if _, ok := retried.wait(probes, 15*time.Second); !ok {
		r.Error = fmt.Sprintf("retry probe: %d of %d retries arrived", retried.value(), probes)
		return r
	}
	_, p50, _, mx := diff.stats()
	r.RetryDelayP50MS, r.RetryDelayMaxMS = round(p50, 1), round(mx, 1)

	r.met(r.P50MS <= 3 && r.P99MS <= 20 && r.RetryDelayMaxMS <= 1100, "p50 ≤ 3 ms, p99 ≤ 20 ms; 1s retry ≤ 1.1 s")
	r.headline = fmt.Sprintf("publish→receive p50 %.2f ms, p99 %.2f ms (max %.1f) at %d/s; 1s retry arrives after %.0f ms (max of %d)",
		r.P50MS, r.P99MS, r.MaxMS, b.cfg.latencyRate, r.RetryDelayMaxMS, probes)
	return r
}
