package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of hookd.Store and hookd.Waker.
// It is safe for concurrent use, and any number of Stores (in one process or
// many) may share one database.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the listening connection
	schema  string          // the schema the tables live in
	channel string          // the NOTIFY channel, one per schema

	wake  chan struct{} // Wakeups; buffered 1, sent to without blocking
	parts partitions
	ins   *inserter
	// scanFrom is the endpoint after which the next endpoint-by-endpoint
	// claim starts (see claim.go).
	scanMu   sync.Mutex
	scanFrom string
	// lastNotify is when a publish last notified (Unix ns); see
	// notifyPublish.
	lastNotify atomic.Int64

	// now is the store's own clock, used only where the interface takes
	// no time (DeliveryReleaseMany, partition upkeep).
	now func() time.Time

	bg      context.Context // the background work's, cancelled by Close
	stop    context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex // guards closing, so that no goroutine starts as Close waits
	closing bool
	closed  sync.Once
}

var (
	_ hookd.Store = (*Store)(nil)
	_ hookd.Waker = (*Store)(nil)
)

// defaultMaxConns sizes the pool when the URL does not (pool_max_conns):
// enough for the group committer, claims, outcome writes and API reads to
// proceed side by side, few enough that several nodes fit in PostgreSQL's
// default of 100 connections.
const defaultMaxConns = 10

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN; pgxpool's pool_* parameters are honoured, and search_path chooses
// the schema) and starts listening for wake-ups. It does not migrate: call
// Migrate before using the store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	// Migrate holds one connection (its lock) while goose uses another.
	cfg.MaxConns = max(cfg.MaxConns, 2)
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "hookd"
	}
	// hookd's statements are short; compiling one (JIT) costs more than it
	// ever saves, and the planner's cost penalties (see claimTx) would
	// trigger it.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	// The hot statements run thousands of times a second over partitioned
	// tables, where planning costs more than executing: plan each once per
	// connection (pgx prepares them) and let the executor prune partitions.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// Connections found dead after a restart of PostgreSQL are replaced
	// before use: pgxpool pings a connection idle for over a second.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if schema == nil {
		pool.Close()
		return nil, errors.New("postgres: no schema of the search_path exists")
	}
	s := &Store{
		pool:    pool,
		connCfg: cfg.ConnConfig.Copy(),
		schema:  *schema,
		channel: "hookd:" + *schema,
		wake:    make(chan struct{}, 1),
		now:     time.Now,
	}
	s.parts.known = map[time.Time]bool{}
	s.ins = newInserter(s)
	bg, stop := context.WithCancel(context.Background())
	s.bg, s.stop = bg, stop
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.listen(bg) }()
	go func() { defer s.wg.Done(); s.maintain(bg) }()
	return s, nil
}

// Migrate applies the embedded migrations under an advisory lock, so that
// nodes starting together migrate once, then prepares the partitions of
// the coming days.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(err, "migrate")
	}
	defer conn.Release()
	key := s.lockKey("migrate")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return s.fail(err, "migrate: lock")
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A session lock is freed with its connection anyway.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir,
		goose.WithTableName("hookd_migrations"))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return s.ensureAhead(ctx)
}

// Wakeups receives when any node made deliveries due. Sends are coalesced:
// one receive may stand for many notifications.
func (s *Store) Wakeups() <-chan struct{} { return s.wake }

// wakeup signals Wakeups without blocking.
func (s *Store) wakeup() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(err, "ping")
	}
	return nil
}

// Close stops the background work and closes the pool. Calls after the
// first do nothing.
func (s *Store) Close() error {
	s.closed.Do(func() {
		s.ins.close()
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.stop()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// lockKey is the advisory lock key of a named singleton job, distinct per
// schema so that separate installations in one database do not contend.
func (s *Store) lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("hookd\x00" + s.schema + "\x00" + name))
	return int64(h.Sum64())
}

// ident quotes a name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// utc returns t in UTC, and the zero time for a NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nullString maps "" to NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// limit applies the list rules: ≤ 0 is the default, above the maximum is
// clamped.
func limit(n int) int {
	switch {
	case n <= 0:
		return hookd.DefaultLimit
	case n > hookd.MaxLimit:
		return hookd.MaxLimit
	}
	return n
}
