package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/postgres"
	"github.com/hookd/hookd/store/postgres/pgtest"
	"github.com/hookd/hookd/store/storetest"
	"github.com/jackc/pgx/v5"
)

// The tests run against the real PostgreSQL that pgtest finds. TestMain
// creates a database of its own there and drops it afterwards; each test
// gets a fresh schema in it, which is much faster than a database per test
// and isolates tests as well (the store keys its locks and NOTIFY channel
// by schema).

var (
	baseURL string // the test database, without a search_path
	skipMsg string // why the tests are skipped, when no PostgreSQL answers
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	db, err := pgtest.Create(context.Background())
	if errors.Is(err, pgtest.ErrUnavailable) {
		skipMsg = err.Error()
		return m.Run()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "postgres tests: %v\n", err)
		return 1
	}
	baseURL = db.URL
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Drop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "postgres tests: %v\n", err)
	}
	return code
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshSchema creates an empty schema for t, dropped at cleanup, and
// returns a URL whose connections use it.
func freshSchema(t testing.TB) string {
	t.Helper()
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := "t_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, _ := url.Parse(baseURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens a migrated store on url, closed at cleanup.
func openStore(t testing.TB, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the suite on one schema, emptied before each
// subtest: migrating a schema per subtest would take most of the time.
func TestConformance(t *testing.T) {
	url := freshSchema(t)
	openStore(t, url).Close()
	storetest.Run(t, func(t *testing.T) hookd.Store {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// Every table but goose's, found in the catalogue so that tables
		// added by later migrations are emptied too. DELETE rather than
		// TRUNCATE: the tables are small, and TRUNCATE makes (and syncs)
		// new files for every partition.
		rows, err := conn.Query(ctx, `SELECT relname::text FROM pg_class
			WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')
			  AND NOT relispartition AND relname <> 'hookd_migrations'`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			if _, err := conn.Exec(ctx, "DELETE FROM "+pgx.Identifier{table}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		return openStore(t, url)
	})
}
