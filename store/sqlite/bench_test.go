package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// BenchmarkEventInsertMany publishes one event with one delivery per call
// from many goroutines, as single-event publish requests do, and reports
// events/s and the mean number of calls per commit.
func BenchmarkEventInsertMany(b *testing.B) {
	for _, par := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			ep := endpoint("acme")
			if err := s.EndpointInsert(ctx, ep); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			before := s.Stats()
			b.SetParallelism(max(1, par/gomaxprocs()))
			b.ResetTimer()
			done := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					in := insert("acme", ep, int(n.Add(1)))
					if _, err := s.EventInsertMany(ctx, []hookd.EventInsert{in}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			done()
			report(b, s.Stats().Transactions-before.Transactions)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAttemptRecordMany records outcomes of leased deliveries: one
// attempt per call from many goroutines, and 100 per call (the engine's
// batched outcome writer).
func BenchmarkAttemptRecordMany(b *testing.B) {
	for _, tc := range []struct{ par, batch int }{{64, 1}, {1, 100}} {
		b.Run(fmt.Sprintf("goroutines=%d/batch=%d", tc.par, tc.batch), func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			ep := endpoint("acme")
			if err := s.EndpointInsert(ctx, ep); err != nil {
				b.Fatal(err)
			}
			total := b.N * tc.batch
			ds := make([]*hookd.Delivery, 0, total)
			for i := 0; i < total; i += 1000 {
				var in []hookd.EventInsert
				for j := i; j < min(total, i+1000); j++ {
					e := insert("acme", ep, j)
					e.Deliveries[0].LeaseOwner, e.Deliveries[0].LeaseUntil = "bench", t0.Add(time.Hour)
					in = append(in, e)
					ds = append(ds, e.Deliveries[0])
				}
				if _, err := s.EventInsertMany(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			before := s.Stats()
			b.SetParallelism(max(1, tc.par/gomaxprocs()))
			b.ResetTimer()
			done := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				recs := make([]hookd.AttemptRecord, tc.batch)
				for pb.Next() {
					at := int(next.Add(1)-1) * tc.batch
					for k := range recs {
						d := ds[at+k]
						recs[k] = hookd.AttemptRecord{
							Attempt: &hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Tenant: d.Tenant, DeliveryID: d.ID, EndpointID: d.EndpointID,
								EventID: d.EventID, Number: 1, StartedAt: t0, Duration: 12, Outcome: hookd.OutcomeSucceeded, StatusCode: 200, Response: "ok"},
							State: hookd.StateSucceeded, LeaseOwner: "bench",
						}
					}
					if err := s.AttemptRecordMany(ctx, recs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			done()
			report(b, s.Stats().Transactions-before.Transactions)
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "attempts/s")
		})
	}
}

// BenchmarkDeliveryClaimMany claims 100 due deliveries at a time from a
// backlog spread over 100 endpoints, one of them disabled and holding most
// of the backlog, which the claim must not scan past.
func BenchmarkDeliveryClaimMany(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	var eps []*hookd.Endpoint
	for range 100 {
		ep := endpoint("acme")
		if err := s.EndpointInsert(ctx, ep); err != nil {
			b.Fatal(err)
		}
		eps = append(eps, ep)
	}
	eps[0].Enabled = false
	if err := s.EndpointUpdate(ctx, eps[0]); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		var in []hookd.EventInsert
		for j := range 1000 {
			ep := eps[0]
			if j%2 == 0 {
				ep = eps[1+(i*1000+j)%99]
			}
			in = append(in, insert("acme", ep, i*1000+j))
		}
		if _, err := s.EventInsertMany(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	defer cpuTime(b)()
	for i := range b.N {
		now := t0.Add(time.Duration(i) * time.Minute)
		cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "bench", Now: now, LeaseUntil: now.Add(time.Minute), Max: 100})
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) != 100 {
			b.Fatalf("claimed %d, want 100", len(cs))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "claims/s")
}

func report(b *testing.B, txs uint64) {
	if txs > 0 {
		b.ReportMetric(float64(b.N)/float64(txs), "calls/commit")
	}
}

// cpuTime starts measuring the process's CPU time; the returned function
// reports it per op. On a shared machine it says more than ns/op.
func cpuTime(b *testing.B) func() {
	start := rusage()
	return func() { b.ReportMetric(float64(rusage()-start)/float64(b.N), "cpu-ns/op") }
}

func rusage() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func gomaxprocs() int { return max(1, testingProcs) }
