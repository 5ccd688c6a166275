package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/postgres"
	"github.com/hookd/hookd/store/sqlite"
)

// serve's HTTP server limits (cmd/hookd/serve.go), so that the API is
// measured behind the same server settings.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = hookd.MaxTimeout + time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// migrator is a store that applies its own migrations, as serve needs.
type migrator interface {
	hookd.Store
	Migrate(ctx context.Context) error
}

// stores makes a fresh database for each scenario: a SQLite file in a
// temporary directory, or a schema of its own in a PostgreSQL database.
type stores struct {
	pgURL string // "": SQLite
	dir   string
	log   *slog.Logger

	mu      sync.Mutex
	schemas []string
}

// space is one fresh database; several nodes may open it (PostgreSQL).
type space struct {
	st   *stores
	path string // SQLite file
	url  string // PostgreSQL URL with its search_path
}

func (s *stores) kind() string {
	if s.pgURL != "" {
		return "postgres"
	}
	return "sqlite"
}

func (s *stores) fresh(ctx context.Context, name string) (*space, error) {
	if s.pgURL == "" {
		return &space{st: s, path: filepath.Join(s.dir, name+"-"+randomHex(4)+".db")}, nil
	}
	schema := "bench_" + name + "_" + randomHex(4)
	conn, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.schemas = append(s.schemas, schema)
	s.mu.Unlock()
	u, err := url.Parse(s.pgURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return &space{st: s, url: u.String()}, nil
}

// open opens the space's store, migrated.
func (sp *space) open(ctx context.Context) (migrator, error) {
	if sp.url == "" {
		// sqlite.Open is what serve calls: WAL, synchronous=FULL.
		return sqlite.Open(ctx, sp.path)
	}
	st, err := postgres.Open(ctx, sp.url)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// cleanup drops the schemas made in PostgreSQL; SQLite files go with the
// temporary directory.
func (s *stores) cleanup() {
	if s.pgURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		s.log.Warn("dropping benchmark schemas", "err", err)
		return
	}
	defer conn.Close(ctx)
	for _, schema := range s.schemas {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			s.log.Warn("dropping benchmark schema", "schema", schema, "err", err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// outcomes counts the attempts a node's engine recorded, by outcome, from
// Options.OnRecord: it runs after the store committed them, so a count
// reached means durably recorded.
type outcomes struct {
	attempts  tally
	succeeded tally
	failed    tally // attempts that did not succeed
}

func (o *outcomes) onRecord(recs []hookd.AttemptRecord) {
	now := time.Now()
	var ok int64
	for i := range recs {
		if recs[i].Attempt.Outcome == hookd.OutcomeSucceeded {
			ok++
		}
	}
	o.attempts.add(int64(len(recs)), now)
	if ok > 0 {
		o.succeeded.add(ok, now)
	}
	if n := int64(len(recs)) - ok; n > 0 {
		o.failed.add(n, now)
	}
}

// node is one hookd running in this process.
type node struct {
	URL    string
	Key    string // an admin API key
	store  migrator
	engine *delivery.Engine
	srv    *http.Server
	out    *outcomes
}

type nodeOptions struct {
	owner string
	clock *hookdtest.SkewClock // nil: the real clock; moved to make retries scheduled far ahead due now
}

// startNode wires a node as serve does: store, engine with loopback
// allowed (the receivers are on 127.0.0.1), API behind serve's server
// limits, one Prometheus registry for both.
func startNode(ctx context.Context, sp *space, o nodeOptions, log *slog.Logger) (*node, error) {
	st, err := sp.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	n := &node{store: st, out: &outcomes{}}
	if n.Key, err = insertAdminKey(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eo := delivery.Options{
		Owner:         o.owner,
		AllowNetworks: loopback,
		Logger:        log,
		Registerer:    registry,
		OnRecord:      n.out.onRecord,
	}
	if o.clock != nil {
		eo.Now = o.clock.Now
	}
	n.engine = delivery.New(st, eo)
	if err := n.engine.Start(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	handler := api.New(api.Config{Store: st, Engine: n.engine, Logger: log, Registry: registry})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.engine.Stop(context.Background())
		st.Close()
		return nil, err
	}
	n.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	n.URL = "http://" + ln.Addr().String()
	go func() { _ = n.srv.Serve(ln) }()
	return n, nil
}

// stop shuts the node down in serve's order, giving requests still under
// way (slow endpoints) grace before they are cut.
func (n *node) stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	err := n.engine.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // cut short on purpose
	}
	return errors.Join(err, n.store.Close())
}

// writerStats is the SQLite writer's mean group size so far, or 0.
func (n *node) writerStats() (txs, reqs uint64) {
	if s, ok := n.store.(*sqlite.Store); ok {
		st := s.Stats()
		return st.Transactions, st.Requests
	}
	return 0, 0
}

func insertAdminKey(ctx context.Context, st hookd.Store) (string, error) {
	key, hash := hookd.NewAPIKeySecret()
	err := st.APIKeyInsert(ctx, &hookd.APIKey{
		ID:        hookd.NewID(hookd.PrefixAPIKey),
		Name:      "bench",
		Scopes:    []string{hookd.ScopeAdmin},
		Prefix:    key[:len(hookd.KeyPrefix)+8],
		Hash:      hash,
		CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		return "", fmt.Errorf("insert admin key: %w", err)
	}
	return key, nil
}

// newLogger logs warnings and errors only: the engine's and the API's
// logs are part of what is measured, but at info level a benchmark would
// measure the terminal.
func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
