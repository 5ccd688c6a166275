package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// publishAll publishes events lo…hi-1 from conc goroutines, one event per
// request or batches of batch, stamping each with its send time. It
// returns the publish requests' durations and the first error.
func publishAll(ctx context.Context, apis []*apiClient, tenant, typ string, lo, hi, batch int64, conc, dataSize int) (*samples, error) {
	var (
		lat   samples
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := &counter{next: lo, max: hi}
	for i := range conc {
		a := apis[i%len(apis)]
		wg.Go(func() {
			buf := make([]byte, 0, 2*dataSize+256)
			for ctx.Err() == nil {
				from, k := next.take(batch)
				if k == 0 {
					return
				}
				s := time.Now()
				var err error
				if batch == 1 {
					buf = appendEvent(buf[:0], typ, from, s.UnixNano(), dataSize)
					err = a.publish(ctx, tenant, buf)
				} else {
					buf = appendBatch(buf[:0], typ, from, k, s.UnixNano(), dataSize)
					err = a.publishBatch(ctx, tenant, buf)
				}
				lat.add(time.Since(s))
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
	return &lat, first
}

// throughput is e2e (one event per publish request, 64 publishers) and,
// with batch, batch (POST …/events/batch of batchSize events): events to
// one fast endpoint, timed from the first publish to the last receipt.
func (b *bench) throughput(ctx context.Context, batch bool) *result {
	r := &result{}
	name, per, conc, pctTarget := "e2e", int64(1), b.cfg.publishers, 40.0
	if batch {
		name, per, conc, pctTarget = "batch", b.cfg.batchSize, b.cfg.batchPublishers, 70.0
	}
	const tenant = "bench"
	events := b.cfg.events
	warm := min(events/10, 1000)

	sp, err := b.stores.fresh(ctx, name)
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
	rcv, err := newReceiver("127.0.0.1:0", events+warm)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	rcv.lat, rcv.latBelow = &samples{}, events
	rcv.start()
	defer rcv.close()
	client := newLoadClient(conc)
	defer client.CloseIdleConnections()
	a := &apiClient{c: client, base: n.URL, key: n.Key}
	if _, err := a.createEndpoint(ctx, tenant, endpointSpec{URL: rcv.URL, MaxInFlight: b.cfg.maxInFlight}); err != nil {
		r.Error = err.Error()
		return r
	}

	// Warm up (numbers above the timed range): connections open, the
	// endpoint cached, the heap grown to its working size.
	if _, err := publishAll(ctx, []*apiClient{a}, tenant, "bench."+name, events, events+warm, per, conc, b.cfg.dataSize); err != nil {
		r.Error = "warm-up: " + err.Error()
		return r
	}
	timeout := time.Minute + time.Duration(events)*time.Millisecond
	if _, ok := n.out.succeeded.wait(warm, timeout); !ok {
		r.Error = fmt.Sprintf("warm-up: %d of %d deliveries recorded", n.out.succeeded.value(), warm)
		return r
	}

	rawf, err := b.rawNow()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	raw := rawf.RPS
	r.RawRPS = raw
	txs0, reqs0 := n.writerStats()
	cpu0, start := cpuTime(), time.Now()
	pubLat, err := publishAll(ctx, []*apiClient{a}, tenant, "bench."+name, 0, events, per, conc, b.cfg.dataSize)
	published := time.Since(start)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	last, ok := rcv.unique.wait(events+warm, timeout)
	if !ok {
		r.Error = fmt.Sprintf("%d of %d deliveries arrived", rcv.unique.value()-warm, events)
		return r
	}
	if _, ok := n.out.succeeded.wait(events+warm, timeout); !ok {
		r.Error = fmt.Sprintf("%d of %d deliveries arrived but %d were recorded", events, events, n.out.succeeded.value()-warm)
		return r
	}
	cpu := cpuTime() - cpu0
	txs1, reqs1 := n.writerStats()

	el := last.Sub(start)
	r.Events, r.Deliveries = events, events
	r.DeliveriesPerS = round(float64(events)/el.Seconds(), 0)
	r.PctOfRaw = round(100*r.DeliveriesPerS/raw, 1)
	r.PublishPerS = round(float64(events)/published.Seconds(), 0)
	_, r.P50MS, r.P99MS, r.MaxMS = rcv.lat.stats()
	_, r.PublishP50MS, r.PublishP99MS, _ = pubLat.stats()
	r.P50MS, r.P99MS, r.MaxMS = round(r.P50MS, 2), round(r.P99MS, 2), round(r.MaxMS, 2)
	r.PublishP50MS, r.PublishP99MS = round(r.PublishP50MS, 2), round(r.PublishP99MS, 2)
	r.CPUMSPerDelivery = round(ms(cpu)/float64(events), 4)
	r.RawCPUMSPerReq = rawf.CPUMSPerReq
	r.CPUPctOfRaw = round(100*r.RawCPUMSPerReq/r.CPUMSPerDelivery, 1)
	if txs1 > txs0 {
		r.GroupCommit = round(float64(reqs1-reqs0)/float64(txs1-txs0), 1)
	}
	r.Duplicates = rcv.dups.Load()
	r.met(r.PctOfRaw >= pctTarget, fmt.Sprintf("≥ %.0f%% of raw", pctTarget))
	r.headline = fmt.Sprintf("%.0f deliveries/s = %.1f%% of raw %.0f/s; %.3f ms CPU/delivery (%.1f%% of raw by CPU); publish→receive p50 %.1f ms p99 %.1f ms",
		r.DeliveriesPerS, r.PctOfRaw, raw, r.CPUMSPerDelivery, r.CPUPctOfRaw, r.P50MS, r.P99MS)
	return r
}
