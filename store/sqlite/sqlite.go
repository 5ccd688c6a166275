package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/hookd/hookd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tunes a Store; the zero value is what hookd uses.
type Options struct {
	// MaxBatch bounds the write requests committed together (default 256).
	MaxBatch int
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
}

// Store is a hookd.Store in one SQLite file.
type Store struct {
	path string
	lock *os.File
	rdb  *sql.DB // query_only pool
	wdb  *sql.DB // one connection, used only by the writer goroutine
	w    *writer

	reqs      chan *request
	closing   chan struct{}
	done      chan struct{} // closed when the writer has returned
	closeOnce sync.Once
	closeErr  error

	stats struct{ txs, reqs atomic.Uint64 }
	read  readStmts
}

var _ hookd.Store = (*Store)(nil)

// Open opens (creating it if needed) and migrates the database at path,
// takes the file lock that makes this process its only user, and drops the
// leases a previous process left behind.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenOptions(ctx, path, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q: want the path of a database file", path)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	lock, err := lockFile(abs + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:    abs,
		lock:    lock,
		reqs:    make(chan *request),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	fail := func(err error) (*Store, error) {
		if s.wdb != nil {
			s.wdb.Close()
		}
		if s.rdb != nil {
			s.rdb.Close()
		}
		unlockFile(lock)
		return nil, err
	}

	if err := migrate(ctx, abs); err != nil {
		return fail(err)
	}
	s.wdb, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", path, err))
	}
	s.w = &writer{s: s, conn: conn, stmts: map[string]*sql.Stmt{}}
	if err := s.w.start(ctx); err != nil {
		conn.Close()
		return fail(fmt.Errorf("sqlite: open %s: %w", path, err))
	}

	s.rdb, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		s.w.closeStmts()
		conn.Close()
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.rdb.SetMaxOpenConns(o.ReadConns)
	s.rdb.SetMaxIdleConns(o.ReadConns)
	if err := s.read.prepare(ctx, s.rdb); err != nil {
		s.w.closeStmts()
		conn.Close()
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	go s.w.run(o.MaxBatch)
	return s, nil
}

// dsn is the connection string of path: WAL, fsync at every commit, and
// caches sized for a small machine. Only the writer maps the file: every
// connection's map counts in the process's RSS again for the same pages
// (the backlog benchmark saw 142 MiB of them with five maps), and the
// readers serve listings, not the delivery path, so a small page cache
// of their own does.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "mmap_size(0)")
		q.Add("_pragma", "cache_size(-4000)")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "mmap_size(67108864)")
		q.Add("_pragma", "cache_size(-32000)")
		q.Add("_pragma", "journal_size_limit(67108864)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Migrate applies the embedded migrations that the database lacks. Open
// does it too; this is for "hookd migrate".
func (s *Store) Migrate(ctx context.Context) error { return migrate(ctx, s.path) }

func migrate(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	return nil
}

// Stats counts the writer's work: Requests write calls in Transactions
// commits. Requests/Transactions is the mean group size.
type Stats struct {
	Transactions uint64
	Requests     uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Transactions: s.stats.txs.Load(), Requests: s.stats.reqs.Load()}
}

// Ping checks that a read connection answers.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return storeErr(err)
	}
	var one int
	return storeErr(s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

// Close finishes the writes already handed to the writer, then closes the
// database and releases the file lock.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.done
		s.read.close()
		errs := []error{s.w.close(), s.rdb.Close(), s.wdb.Close(), unlockFile(s.lock)}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

var errClosed = &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the store is closed"}

// storeErr maps a driver error to a hookd.Error whose message never
// carries the driver's text (kept as the cause, for logs).
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var he *hookd.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the request was cancelled", Err: err}
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &hookd.Error{Code: hookd.EDUPLICATE, Message: "already exists", Err: err}
		case code&0xff == sqlite3lib.SQLITE_BUSY, code&0xff == sqlite3lib.SQLITE_LOCKED,
			code&0xff == sqlite3lib.SQLITE_FULL, code&0xff == sqlite3lib.SQLITE_IOERR:
			return &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the store cannot take the request now", Err: err}
		}
	}
	return &hookd.Error{Code: hookd.EINTERNAL, Message: "store error", Err: err}
}

// micro converts t to the stored form; the zero time is 0.
func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicro is the inverse of micro, in UTC.
func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// utc is t as the store returns it: UTC, microsecond precision.
func utc(t time.Time) time.Time { return fromMicro(micro(t)) }
