package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// nodes runs 1, 2 and 3 hookd nodes (engines with distinct owners, each
// with its own API and connection pool) on one PostgreSQL database and
// measures e2e deliveries/s with the publishers spread over the nodes. To
// tell what limits it, it reports the CPU this process (all nodes, the
// publishers and the receiver) and the PostgreSQL server processes used,
// in cores, and samples pg_stat_activity during the run.
func (b *bench) nodes(ctx context.Context) *result {
	r := &result{Store: "postgres"}
	if e2e := b.results["e2e"]; e2e != nil && e2e.Store == "sqlite" && e2e.Error == "" {
		r.SQLitePerS = e2e.DeliveriesPerS
	}
	var best, bestRaw float64
	for k := 1; k <= 3; k++ {
		fmt.Fprintf(os.Stderr, "bench: nodes: %d …\n", k)
		f := b.nodesRun(ctx, k)
		if f.Error != "" && r.Error == "" {
			r.Error = fmt.Sprintf("%d nodes: %s", k, f.Error)
		}
		if f.DeliveriesPerS > best {
			best, bestRaw = f.DeliveriesPerS, f.RawRPS
		}
		r.Nodes = append(r.Nodes, f)
	}
	r.Events = b.cfg.nodeEvents
	r.DeliveriesPerS = best
	if bestRaw > 0 {
		r.RawRPS, r.PctOfRaw = bestRaw, round(100*best/bestRaw, 1)
	}
	r.headline = ""
	for i, f := range r.Nodes {
		if i > 0 {
			r.headline += "; "
		}
		r.headline += fmt.Sprintf("%d: %.0f/s = %.1f%% of raw, %.3f ms CPU/delivery with PostgreSQL's (cores: process %.2f, postgres %.2f)", f.Nodes, f.DeliveriesPerS, f.PctOfRaw, f.CPUMSPerDelivery, f.HookdCores, f.PostgresCores)
	}
	if r.SQLitePerS > 0 {
		r.headline += fmt.Sprintf("; SQLite single node %.0f/s", r.SQLitePerS)
	}
	return r
}

func (b *bench) nodesRun(ctx context.Context, k int) nodeFigure {
	f := nodeFigure{Nodes: k}
	const tenant = "bench"
	events := b.cfg.nodeEvents
	warm := min(events/10, 500)
	sp, err := b.pg.fresh(ctx, fmt.Sprintf("nodes%d", k))
	if err != nil {
		f.Error = err.Error()
		return f
	}
	client := newLoadClient(b.cfg.publishers)
	defer client.CloseIdleConnections()
	var nodes []*node
	var apis []*apiClient
	defer func() {
		for _, n := range nodes {
			_ = n.stop(5 * time.Second)
		}
	}()
	for i := range k {
		n, err := startNode(ctx, sp, nodeOptions{owner: fmt.Sprintf("bench-node-%d", i)}, b.log)
		if err != nil {
			f.Error = err.Error()
			return f
		}
		nodes = append(nodes, n)
		apis = append(apis, &apiClient{c: client, base: n.URL, key: n.Key})
	}
	rcv, err := newReceiver("127.0.0.1:0", events+warm)
	if err != nil {
		f.Error = err.Error()
		return f
	}
	rcv.start()
	defer rcv.close()
	if _, err := apis[0].createEndpoint(ctx, tenant, endpointSpec{URL: rcv.URL, MaxInFlight: b.cfg.maxInFlight}); err != nil {
		f.Error = err.Error()
		return f
	}
	recorded := func() int64 {
		var s int64
		for _, n := range nodes {
			s += n.out.succeeded.value()
		}
		return s
	}
	timeout := time.Minute + time.Duration(events)*time.Millisecond

	if _, err := publishAll(ctx, apis, tenant, "nodes.warm", events, events+warm, 1, b.cfg.publishers, b.cfg.dataSize); err != nil {
		f.Error = "warm-up: " + err.Error()
		return f
	}
	if _, ok := rcv.unique.wait(warm, timeout); !ok {
		f.Error = fmt.Sprintf("warm-up: %d of %d arrived", rcv.unique.value(), warm)
		return f
	}

	rawf, err := b.rawNow()
	if err != nil {
		f.Error = err.Error()
		return f
	}
	raw := rawf.RPS
	f.RawRPS = raw
	stop := make(chan struct{})
	var activity map[string]int
	var wg sync.WaitGroup
	wg.Go(func() { activity = sampleActivity(ctx, sp.url, stop) })
	pg0, cpu0, start := processCPU("postgres"), cpuTime(), time.Now()
	if _, err := publishAll(ctx, apis, tenant, "nodes.event", 0, events, 1, b.cfg.publishers, b.cfg.dataSize); err != nil {
		close(stop)
		wg.Wait()
		f.Error = err.Error()
		return f
	}
	last, ok := rcv.unique.wait(events+warm, timeout)
	el := time.Since(start)
	pg, cpu := cpuSince(pg0, processCPU("postgres")), cpuTime()-cpu0
	close(stop)
	wg.Wait()
	if !ok {
		f.Error = fmt.Sprintf("%d of %d deliveries arrived", rcv.unique.value()-warm, events)
		return f
	}
	deadline := time.Now().Add(timeout)
	for recorded() < events+warm && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // several nodes' tallies: poll their sum
	}
	if got := recorded(); got < events+warm {
		f.Error = fmt.Sprintf("%d of %d deliveries recorded", got-warm, events)
		return f
	}
	f.DeliveriesPerS = round(float64(events)/last.Sub(start).Seconds(), 0)
	f.PctOfRaw = round(100*f.DeliveriesPerS/raw, 1)
	f.CPUMSPerDelivery = round(ms(cpu+pg)/float64(events), 4)
	f.CPUPctOfRaw = round(100*rawf.CPUMSPerReq/f.CPUMSPerDelivery, 1)
	f.HookdCores = round(cpu.Seconds()/el.Seconds(), 2)
	f.PostgresCores = round(pg.Seconds()/el.Seconds(), 2)
	f.Activity = activity
	return f
}

// sampleActivity counts, every 50ms until stop, the backends of the
// benchmark's database by state and wait event type ("active/IO",
// "idle/Client", …), which tells whether PostgreSQL works, waits for
// disk or locks, or waits for the nodes.
func sampleActivity(ctx context.Context, url string, stop <-chan struct{}) map[string]int {
	out := map[string]int{}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return out
	}
	defer conn.Close(ctx)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
		rows, err := conn.Query(ctx, `SELECT COALESCE(state, '') || '/' || COALESCE(wait_event_type, 'CPU') || COALESCE(':' || wait_event, ''), count(*)
			FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1`)
		if err != nil {
			return out
		}
		got := map[string]int{}
		for rows.Next() {
			var k string
			var n int
			if rows.Scan(&k, &n) == nil {
				got[k] = n
			}
		}
		rows.Close()
		for k, n := range maps.All(got) {
			out[k] += n
		}
	}
}
