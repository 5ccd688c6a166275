// Package pgtest gives tests throwaway PostgreSQL databases, in the manner
// of net/http/httptest: NewDatabase creates an empty database, returns its
// URL and drops it when the test ends. It exists so that every package
// testing against the real PostgreSQL (the store, the delivery engine, the
// end-to-end and cluster tests) finds the server, names databases and
// decides when to skip in one way, instead of each carrying its own copy.
//
// The server is the one HOOKD_TEST_DATABASE_URL names (CI sets it), else
// the local one as user postgres. The skip rule: when no server answers,
// a test skips only if the variable is unset — a developer without
// PostgreSQL still runs everything else — and fails if it is set, since a
// server named on purpose that does not answer is a broken setup, and a CI
// run whose PostgreSQL tests all skipped would prove nothing.
//
// A database per test isolates tests completely but costs a CREATE
// DATABASE (a copy of template1); packages with many small tests create
// one with Create in TestMain and give each test a schema of its own in
// it instead, as store/postgres does.
package pgtest

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

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the server to create
// databases on, as a URL of any database on it.
const EnvURL = "HOOKD_TEST_DATABASE_URL"

// defaultURL is the local server, tried when EnvURL is unset.
const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ErrUnavailable is wrapped by Create's error when no server answers and
// none was named in EnvURL: the caller should skip, not fail.
var ErrUnavailable = errors.New("no PostgreSQL answers")

// Database is a database made by Create.
type Database struct {
	// URL connects to the database.
	URL string

	name  string
	admin string
}

// Create creates an empty database with a random name on the server and
// returns it; the caller drops it with Drop. Its error wraps ErrUnavailable
// when the server does not answer and EnvURL is unset (see the package
// doc).
func Create(ctx context.Context) (*Database, error) {
	admin, named := os.LookupEnv(EnvURL)
	if !named || admin == "" {
		admin, named = defaultURL, false
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %s: %w", EnvURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if !named {
			return nil, fmt.Errorf("%w at %s (%v); set %s to name a server", ErrUnavailable, u.Redacted(), err, EnvURL)
		}
		return nil, fmt.Errorf("pgtest: the server %s names does not answer: %w", EnvURL, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "hookd_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("pgtest: create database: %w", err)
	}
	u.Path = "/" + name
	return &Database{URL: u.String(), name: name, admin: admin}, nil
}

// Drop drops the database, ending its sessions. The server may have been
// restarted meanwhile (tests do that): Drop connects afresh, and retries
// while the server does not answer, until ctx ends.
func (d *Database) Drop(ctx context.Context) error {
	for {
		conn, err := pgx.Connect(ctx, d.admin)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
			conn.Close(context.WithoutCancel(ctx))
			if err != nil {
				return fmt.Errorf("pgtest: drop database %s: %w", d.name, err)
			}
			return nil
		}
		// Nothing announces the server's return: poll.
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: drop database %s: %w", d.name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NewDatabase creates an empty database for t, drops it when t and its
// subtests have ended, and returns its URL. It skips t when no PostgreSQL
// answers and none was named (see the package doc), and fails it on any
// other error.
func NewDatabase(t testing.TB) string {
	t.Helper()
	db, err := Create(context.Background())
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Error(err)
		}
	})
	return db.URL
}
