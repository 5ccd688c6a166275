package delivery_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

// BenchmarkDeliveries measures end-to-end deliveries per second: publish
// (one event per call from 64 goroutines, or batches of 100) to a durable
// SQLite store, dispatch, HTTP to a fast local receiver, and the outcome
// written back. b.N is the number of deliveries.
func BenchmarkDeliveries(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			h := newHarness(b, withOptions(func(o *delivery.Options) { o.OnRecord = nil; o.Registerer = reg }))
			r := hookdtest.New(b, hookdtest.Options{CountOnly: true, Timeout: 5 * time.Minute})
			h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 64 })
			data := json.RawMessage(`{"order":"o_123","amount":4200,"currency":"EUR","customer":{"id":"c_42","email":"someone@example.com"}}`)
			const publishers = 64
			calls := (b.N + batch - 1) / batch
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			next := make(chan int, calls)
			for i := range calls {
				next <- min(batch, b.N-i*batch)
			}
			close(next)
			for range publishers {
				wg.Go(func() {
					for n := range next {
						in := make([]hookd.EventInput, n)
						for i := range in {
							in[i] = hookd.EventInput{Type: "order.created", Data: data}
						}
						if _, err := h.eng.Publish(h.ctx, h.tenant, in); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			r.Wait(b.N)
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
			b.ReportMetric(counter(reg, "hookd_deliveries_claimed_total")/float64(b.N), "claimed/delivery")
			b.ReportMetric(counter(reg, "hookd_deliveries_released_total")/float64(b.N), "released/delivery")
		})
	}
}

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// BenchmarkFanOut publishes one event to a tenant with 10,000 endpoints and
// reports how long Publish took (the API's 202) and how long until every
// endpoint had its request. Each iteration is 10,000 deliveries: run it
// with a small count (-bench FanOut -benchtime 3x).
func BenchmarkFanOut(b *testing.B) {
	h := newHarness(b, withOptions(func(o *delivery.Options) { o.OnRecord = nil; o.MaxConnsPerHost = 256 }))
	r := hookdtest.New(b, hookdtest.Options{CountOnly: true, Timeout: 5 * time.Minute})
	const n = 10_000
	var wg sync.WaitGroup
	ids := make(chan int, n)
	for i := range n {
		ids <- i
	}
	close(ids)
	for range 64 {
		wg.Go(func() {
			for i := range ids {
				now := time.Now().UTC()
				ep := &hookd.Endpoint{
					ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: h.tenant, URL: fmt.Sprintf("%s/%d", r.URL, i), Enabled: true,
					Secrets: []hookd.Secret{{Value: hookd.NewSecret()}}, CreatedAt: now, UpdatedAt: now,
				}
				ep.Normalize()
				if err := h.store.EndpointInsert(h.ctx, ep); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	h.eng.EndpointChanged(h.tenant)
	b.ResetTimer()
	var publish, all time.Duration
	for i := range b.N {
		start := time.Now()
		res := h.publish("order.created", map[string]int{"n": i})
		publish += time.Since(start)
		if res.DeliveryCount != n {
			b.Fatalf("%d deliveries", res.DeliveryCount)
		}
		r.Wait((i + 1) * n)
		all += time.Since(start)
	}
	b.ReportMetric(publish.Seconds()/float64(b.N), "s/publish")
	b.ReportMetric(all.Seconds()/float64(b.N), "s/all-delivered")
}

// BenchmarkBacklogDrain measures how fast a backlog waiting in the store
// (an endpoint that was down) drains once the engine starts: every
// delivery goes through claims, which the store caps at max_in_flight
// leases per endpoint. b.N is the number of deliveries.
func BenchmarkBacklogDrain(b *testing.B) {
	for _, mif := range []int{16, 64} {
		b.Run(fmt.Sprintf("max_in_flight=%d", mif), func(b *testing.B) {
			h := newHarness(b, withOptions(func(o *delivery.Options) { o.OnRecord = nil }))
			r := hookdtest.New(b, hookdtest.Options{CountOnly: true, Timeout: 5 * time.Minute})
			ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = mif })
			must(b, h.stop(time.Second))
			now := time.Now().UTC()
			for i := 0; i < b.N; i += 1000 {
				var ins []hookd.EventInsert
				for j := i; j < min(i+1000, b.N); j++ {
					ev := &hookd.Event{ID: fmt.Sprint("e", j), Tenant: h.tenant, Type: "order.created", Data: json.RawMessage(`{"n":1}`), OccurredAt: now, CreatedAt: now}
					ins = append(ins, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{{
						ID: hookd.NewID(hookd.PrefixDelivery), Tenant: h.tenant, EventID: ev.ID, EventType: ev.Type, EndpointID: ep.ID,
						State: hookd.StatePending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
					}}})
				}
				_, err := h.store.EventInsertMany(h.ctx, ins)
				must(b, err)
			}
			eng := delivery.New(h.store, delivery.Options{AllowNetworks: loopback, Logger: quietLogger()})
			b.ResetTimer()
			start := time.Now()
			must(b, eng.Start(h.ctx))
			r.Wait(b.N)
			el := time.Since(start)
			b.StopTimer()
			must(b, eng.Stop(h.ctx))
			b.ReportMetric(float64(b.N)/el.Seconds(), "deliveries/s")
		})
	}
}
