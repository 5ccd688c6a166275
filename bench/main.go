package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// config sizes the scenarios; -quick shrinks the defaults.
type config struct {
	quick           bool
	rawDuration     time.Duration
	events          int64 // e2e and batch
	publishers      int
	batchSize       int64
	batchPublishers int
	maxInFlight     int
	dataSize        int
	latencyFor      time.Duration
	latencyRate     int
	retryProbes     int
	fanout          int
	backlog         int64
	isolationFor    time.Duration
	isolationRate   int
	nodeEvents      int64
}

// bench is one run: the raw reference, where databases come from, and the
// results so far (nodes compares itself with e2e).
type bench struct {
	cfg     config
	raw     rawFigures
	stores  *stores
	pg      *stores // for nodes: PostgreSQL, or nil
	log     *slog.Logger
	results map[string]*result
}

var allScenarios = []string{"e2e", "batch", "latency", "fanout", "backlog", "isolation", "nodes"}

func main() {
	if os.Getenv(childEnv) == "receiver" {
		runChildReceiver()
		return
	}
	os.Exit(run())
}

func run() int {
	var (
		cfg        config
		storeURL   = flag.String("store", "", "run the scenarios on this PostgreSQL database (postgres://…); default: a SQLite file per scenario")
		usePG      = flag.Bool("pg", false, "run the nodes scenario on a fresh PostgreSQL database made from HOOKD_TEST_DATABASE_URL (default: the local server)")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the scenarios (not the raw reference) to this file")
		memprofile = flag.String("memprofile", "", "write a heap profile taken after the scenarios to this file")
	)
	flag.BoolVar(&cfg.quick, "quick", false, "scale every scenario down: the whole run takes well under a minute (CI smoke test)")
	flag.Int64Var(&cfg.events, "events", 0, "events in e2e and batch (default 20000; quick 5000)")
	flag.IntVar(&cfg.publishers, "publishers", 64, "concurrent publishers in e2e and nodes")
	flag.Int64Var(&cfg.batchSize, "batch-size", 1000, "events per batch publish")
	flag.IntVar(&cfg.batchPublishers, "batch-publishers", 4, "concurrent batch publishers")
	flag.IntVar(&cfg.maxInFlight, "max-in-flight", 64, "max_in_flight of the endpoints that take the load")
	flag.IntVar(&cfg.dataSize, "data-size", 1024, "bytes of event data")
	flag.Int64Var(&cfg.backlog, "backlog", 0, "pending deliveries in backlog (default 1000000; quick 10000)")
	flag.IntVar(&cfg.fanout, "fanout", 0, "endpoints in fanout (default 10000; quick 1000)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./bench [flags] [scenario…]\n\nscenarios: %s (default: all; nodes only with -pg or -store postgres://…)\n\nflags:\n", strings.Join(allScenarios, ", "))
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg.setDefaults()

	scenarios := flag.Args()
	for _, s := range scenarios {
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (have %s)\n", s, strings.Join(allScenarios, ", "))
			return 2
		}
	}
	if *storeURL != "" && !strings.HasPrefix(*storeURL, "postgres://") && !strings.HasPrefix(*storeURL, "postgresql://") {
		fmt.Fprintln(os.Stderr, "bench: -store takes a postgres:// URL; SQLite is the default")
		return 2
	}

	log := newLogger()
	dir, err := os.MkdirTemp("", "hookd-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, log: log, results: map[string]*result{}, stores: &stores{pgURL: *storeURL, dir: dir, log: log}}
	defer b.stores.cleanup()
	switch {
	case *storeURL != "":
		b.pg = b.stores
	case *usePG:
		u, drop, err := freshDatabase()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -pg:", err)
			return 1
		}
		defer drop()
		b.pg = &stores{pgURL: u, dir: dir, log: log}
	}
	if len(scenarios) == 0 {
		scenarios = allScenarios
		if b.pg == nil {
			scenarios = scenarios[:len(scenarios)-1]
		}
	}

	cpus, model, mem := machine()
	fmt.Fprintf(os.Stderr, "bench: %d CPUs (%s), %.1f GiB, %s, GOMAXPROCS %d, hookd %s, store %s%s\n",
		cpus, model, float64(mem)/(1<<30), runtime.Version(), runtime.GOMAXPROCS(0), hookd.Version, b.stores.kind(), map[bool]string{true: ", quick"}[cfg.quick])
	fmt.Fprintf(os.Stderr, "bench: raw loopback HTTP for %s …\n", cfg.rawDuration)
	if b.raw, err = measureRaw(cfg.rawDuration); err != nil {
		fmt.Fprintln(os.Stderr, "bench: raw reference:", err)
		return 1
	}
	if b.raw.FsyncMS, err = measureFsync(dir, 50); err != nil {
		fmt.Fprintln(os.Stderr, "bench: fsync reference:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "bench: raw %.0f req/s, p50 %.2f ms, %.3f ms CPU per request; fsync of 4 KiB p50 %.2f ms\n", b.raw.RPS, b.raw.P50MS, b.raw.CPUMSPerReq, b.raw.FsyncMS)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	var rs []*result
	failed := false
	for _, name := range scenarios {
		runtime.GC()
		debug.FreeOSMemory()
		fmt.Fprintf(os.Stderr, "bench: %s …\n", name)
		t0 := time.Now()
		r := b.scenario(name)
		r.Scenario, r.Quick, r.FsyncMS = name, cfg.quick, b.raw.FsyncMS
		if r.RawRPS == 0 {
			r.RawRPS = b.raw.RPS
		}
		if r.Store == "" {
			r.Store = b.stores.kind()
		}
		r.ElapsedSeconds = round(time.Since(t0).Seconds(), 2)
		if r.Error != "" {
			failed = true
			fmt.Fprintf(os.Stderr, "bench: %s: ERROR: %s\n", name, r.Error)
		} else {
			fmt.Fprintf(os.Stderr, "bench: %s: %s (%.1fs)\n", name, r.headline, r.ElapsedSeconds)
		}
		r.writeJSON(os.Stdout)
		b.results[name] = r
		rs = append(rs, r)
	}
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		runtime.GC()
		if f, err := os.Create(*memprofile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	fmt.Println()
	writeTable(os.Stdout, b.raw, rs)
	if failed {
		return 1
	}
	return 0
}

func (c *config) setDefaults() {
	def := func(v *int64, full, quick int64) {
		if *v <= 0 {
			*v = full
			if c.quick {
				*v = quick
			}
		}
	}
	def(&c.events, 20_000, 5_000)
	def(&c.backlog, 1_000_000, 10_000)
	def(&c.nodeEvents, 20_000, 3_000)
	if c.fanout <= 0 {
		c.fanout = 10_000
		if c.quick {
			c.fanout = 1_000
		}
	}
	c.rawDuration, c.latencyFor, c.isolationFor = 3*time.Second, 10*time.Second, 10*time.Second
	c.retryProbes = 5
	if c.quick {
		c.rawDuration, c.latencyFor, c.isolationFor = time.Second, 2*time.Second, 2*time.Second
		c.retryProbes = 2
	}
	c.latencyRate, c.isolationRate = 50, 20
	c.publishers = max(c.publishers, 1)
	c.batchPublishers = max(c.batchPublishers, 1)
	c.batchSize = min(max(c.batchSize, 1), hookd.MaxBatch)
	c.maxInFlight = min(max(c.maxInFlight, 1), hookd.MaxMaxInFlight)
}

func (b *bench) scenario(name string) *result {
	ctx := context.Background()
	switch name {
	case "e2e":
		return b.throughput(ctx, false)
	case "batch":
		return b.throughput(ctx, true)
	case "latency":
		return b.latency(ctx)
	case "fanout":
		return b.fanout(ctx)
	case "backlog":
		return b.backlog(ctx)
	case "isolation":
		return b.isolation(ctx)
	case "nodes":
		if b.pg == nil {
			return &result{Error: "nodes needs PostgreSQL: -pg or -store postgres://…"}
		}
		return b.nodes(ctx)
	}
	return &result{Error: "unknown scenario"}
}

// freshDatabase creates a database for this run on the server of
// HOOKD_TEST_DATABASE_URL (else the local one) and returns its URL and a
// function that drops it.
func freshDatabase() (string, func(), error) {
	admin := os.Getenv("HOOKD_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	name := "hookd_bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: dropping", name+":", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "bench: dropping", name+":", err)
		}
	}
	return u.String(), drop, nil
}
