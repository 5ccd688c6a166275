package delivery_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

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
			h := newHarness(b, withOptions(func(o *delivery.Options) { o.OnRecord = nil }))
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
		})
	}
}
