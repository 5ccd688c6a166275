package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// BenchmarkPublish measures one-event publishes from many goroutines, as
// the API makes them: the group committer merges them into shared
// statements.
func BenchmarkPublish(b *testing.B) {
	s := openStore(b, freshSchema(b))
	ctx := context.Background()
	ep := newEndpoint("acme", 64, time.Now())
	if err := s.EndpointInsert(ctx, ep); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS publishers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			ev := &hookd.Event{ID: fmt.Sprintf("e%d", n.Add(1)), Tenant: "acme", Type: "order.created",
				Data: json.RawMessage(`{"amount":42,"currency":"EUR"}`), OccurredAt: now, CreatedAt: now}
			d := &hookd.Delivery{ID: hookd.NewID(hookd.PrefixDelivery), Tenant: "acme", EventID: ev.ID, EventType: ev.Type,
				EndpointID: ep.ID, State: hookd.StatePending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
			if _, err := s.EventInsertMany(ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{d}}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClaimRecord measures the delivery loop's store work: claim a
// batch, record every outcome as one batch. One op is one delivery.
func BenchmarkClaimRecord(b *testing.B) {
	for _, batch := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b, freshSchema(b))
			ctx := context.Background()
			eps := make([]*hookd.Endpoint, 16)
			for i := range eps {
				eps[i] = newEndpoint("acme", 1024, time.Now())
				if err := s.EndpointInsert(ctx, eps[i]); err != nil {
					b.Fatal(err)
				}
			}
			// The backlog: b.N deliveries, inserted 500 events at a time.
			due := time.Now()
			for i := 0; i < b.N; {
				var in []hookd.EventInsert
				for ; i < b.N && len(in) < 500; i++ {
					ev := &hookd.Event{ID: fmt.Sprintf("e%d", i), Tenant: "acme", Type: "order.created",
						Data: json.RawMessage(`{"n":1}`), OccurredAt: due, CreatedAt: due}
					d := &hookd.Delivery{ID: hookd.NewID(hookd.PrefixDelivery), Tenant: "acme", EventID: ev.ID, EventType: ev.Type,
						EndpointID: eps[i%len(eps)].ID, State: hookd.StatePending, NextAttemptAt: due, CreatedAt: due, UpdatedAt: due}
					in = append(in, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{d}})
				}
				if _, err := s.EventInsertMany(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			done := 0
			for done < b.N {
				now := time.Now()
				cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Max: batch})
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) == 0 {
					b.Fatalf("nothing to claim after %d of %d", done, b.N)
				}
				recs := make([]hookd.AttemptRecord, len(cs))
				for i, c := range cs {
					a := &hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Tenant: "acme", DeliveryID: c.Delivery.ID,
						EndpointID: c.Delivery.EndpointID, EventID: c.Delivery.EventID, Number: 1, StartedAt: now,
						Duration: 3, Outcome: hookd.OutcomeSucceeded, StatusCode: 200}
					recs[i] = hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "bench"}
				}
				if err := s.AttemptRecordMany(ctx, recs); err != nil {
					b.Fatal(err)
				}
				done += len(cs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
