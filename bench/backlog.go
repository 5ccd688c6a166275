package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/hookd/hookd/hookdtest"
)

// backlog piles up pending deliveries for one dead endpoint (its port
// refuses connections), measures this process's memory while they wait,
// then brings the endpoint back and measures how fast they drain.
//
// The deliveries are published in batches; each fails its first attempt
// (connect_error) and is rescheduled an hour later. When every first
// attempt is recorded, the receiver starts on the dead port and the
// engine's clock moves an hour ahead, so the whole backlog is due at once
// and drains through the poller's claims, as after a long outage.
func (b *bench) backlog(ctx context.Context) *result {
	r := &result{}
	total := b.cfg.backlog
	const tenant, dataSize = "backlog", 128

	// A port nobody listens on, until the endpoint comes back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	addr := ln.Addr().String()
	ln.Close()

	sp, err := b.stores.fresh(ctx, "backlog")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	clock := &hookdtest.SkewClock{}
	n, err := startNode(ctx, sp, nodeOptions{clock: clock}, b.log)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer n.stop(5 * time.Second)
	client := newLoadClient(b.cfg.batchPublishers)
	defer client.CloseIdleConnections()
	a := &apiClient{c: client, base: n.URL, key: n.Key}
	if _, err := a.createEndpoint(ctx, tenant, endpointSpec{
		URL: "http://" + addr + "/hook", MaxInFlight: b.cfg.maxInFlight, Retry: schedule("1h", "1h", "1h"),
	}); err != nil {
		r.Error = err.Error()
		return r
	}

	runtime.GC()
	resetPeakRSS()
	stopPeaks := memPeaks()
	start := time.Now()
	if _, err := publishAll(ctx, []*apiClient{a}, tenant, "backlog.event", 0, total, b.cfg.batchSize, b.cfg.batchPublishers, dataSize); err != nil {
		r.Error = err.Error()
		return r
	}
	created := time.Since(start)
	timeout := time.Minute + time.Duration(total)*time.Millisecond
	failedAt, ok := n.out.failed.wait(total, timeout)
	if !ok {
		r.Error = fmt.Sprintf("%d of %d first attempts recorded", n.out.failed.value(), total)
		return r
	}
	if s := n.out.succeeded.value(); s > 0 {
		r.Error = fmt.Sprintf("%d deliveries to a closed port succeeded", s)
		return r
	}
	fmt.Fprintf(os.Stderr, "bench: backlog: %d pending after %.1fs; endpoint back, clock +1h\n", total, time.Since(start).Seconds())
	mem, peaks := readMemory(), stopPeaks()
	var mst runtime.MemStats
	runtime.ReadMemStats(&mst)
	r.Events, r.Deliveries = total, total
	r.CreatePerS = round(float64(total)/created.Seconds(), 0)
	r.FailPerS = round(float64(total)/failedAt.Sub(start).Seconds(), 0)
	r.RSSMiB, r.PeakRSSMiB = mib(mem.RSS), mib(mem.HWM)
	r.RSSAnonMiB, r.RSSFileMiB = mib(mem.Anon), mib(mem.File)
	r.PeakAnonMiB, r.PeakFileMiB = mib(peaks.Anon), mib(peaks.File)
	r.HeapMiB = mib(int64(mst.HeapInuse))

	rawf, err := b.rawNow()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	raw := rawf.RPS
	r.RawRPS = raw
	fresh := max(total/50, 2000) // the fresh reference's events, after the drain
	rcv, err := listenAgain(addr, total+fresh)
	if err != nil {
		r.Error = "bringing the endpoint back: " + err.Error()
		return r
	}
	rcv.start()
	defer rcv.close()
	resetPeakRSS()
	cpu0, back := cpuTime(), time.Now()
	clock.Advance(time.Hour + time.Minute)
	n.engine.EndpointChanged(tenant) // wakes the poller now, not at its next sweep
	last, ok := rcv.unique.wait(total, timeout)
	if !ok {
		r.Error = fmt.Sprintf("drain: %d of %d deliveries arrived", rcv.unique.value(), total)
		return r
	}
	if _, ok := n.out.succeeded.wait(total, timeout); !ok {
		r.Error = fmt.Sprintf("drain: %d of %d deliveries recorded", n.out.succeeded.value(), total)
		return r
	}
	r.CPUMSPerDelivery = round(ms(cpuTime()-cpu0)/float64(total), 4)
	r.RawCPUMSPerReq = rawf.CPUMSPerReq
	r.CPUPctOfRaw = round(100*r.RawCPUMSPerReq/r.CPUMSPerDelivery, 1)
	r.DrainPerS = round(float64(total)/last.Sub(back).Seconds(), 0)
	r.DrainPctOfRaw = round(100*r.DrainPerS/raw, 1)
	r.DrainPeakMiB = mib(readMemory().HWM)
	r.Duplicates = rcv.dups.Load()

	// "The full rate" is the rate at which the same node delivers events
	// that wait for nothing: fresh ones published in batches to the same
	// endpoint, measured right after the drain.
	t0 := time.Now()
	if _, err := publishAll(ctx, []*apiClient{a}, tenant, "backlog.fresh", total, total+fresh, b.cfg.batchSize, b.cfg.batchPublishers, dataSize); err != nil {
		r.Error = "fresh reference: " + err.Error()
		return r
	}
	if last, ok = rcv.unique.wait(total+fresh, timeout); !ok {
		r.Error = fmt.Sprintf("fresh reference: %d of %d deliveries arrived", rcv.unique.value()-total, fresh)
		return r
	}
	r.FreshPerS = round(float64(fresh)/last.Sub(t0).Seconds(), 0)
	r.met(r.PeakRSSMiB < 300 && r.DrainPerS >= 0.9*r.FreshPerS, "< 300 MiB; drain ≥ 90% of the fresh rate")
	r.headline = fmt.Sprintf("%d pending: RSS %.0f MiB (anon %.0f, file %.0f; peak %.0f, anon %.0f, file %.0f; Go heap %.0f); drain %.0f/s = %.0f%% of the fresh rate %.0f/s, %.1f%% of raw %.0f/s, %.3f ms CPU/delivery (peak RSS %.0f MiB)",
		total, r.RSSMiB, r.RSSAnonMiB, r.RSSFileMiB, r.PeakRSSMiB, r.PeakAnonMiB, r.PeakFileMiB, r.HeapMiB, r.DrainPerS, 100*r.DrainPerS/r.FreshPerS, r.FreshPerS, r.DrainPctOfRaw, raw, r.CPUMSPerDelivery, r.DrainPeakMiB)
	return r
}

// listenAgain starts a receiver on addr, which was closed a while ago;
// the kernel may take a moment to let the port go.
func listenAgain(addr string, max int64) (*receiver, error) {
	var err error
	for range 50 {
		var rcv *receiver
		if rcv, err = newReceiver(addr, max); err == nil {
			return rcv, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

func mib(b int64) float64 { return round(float64(b)/(1<<20), 1) }
