package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/store/postgres/pgtest"
)

// A database from NewDatabase is empty and writable during the test, and
// gone once the test has ended.
func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	var dbURL string
	t.Run("use", func(t *testing.T) {
		dbURL = pgtest.NewDatabase(t)
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var tables int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("a new database has %d tables", tables)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
	})
	if dbURL == "" {
		return // skipped: no PostgreSQL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres" // every server has it; the test's own is gone
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// A server named in HOOKD_TEST_DATABASE_URL that does not answer is an
// error to fail on, not a reason to skip.
func TestNamedServerDown(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	db, err := pgtest.Create(context.Background())
	if err == nil {
		t.Fatalf("created %s on a port where nothing listens", db.URL)
	}
	if errors.Is(err, pgtest.ErrUnavailable) {
		t.Errorf("error %v would skip the test; a named server must fail it", err)
	}
}
