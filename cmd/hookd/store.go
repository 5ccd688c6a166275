package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/postgres"
	"github.com/hookd/hookd/store/sqlite"
)

// store is a hookd.Store that can apply its own migrations; both stores
// are one.
type store interface {
	hookd.Store
	Migrate(ctx context.Context) error
}

// Kinds of database a URL may name.
const (
	kindSQLite   = "sqlite"
	kindPostgres = "postgres"
)

// databaseURL is a parsed --database-url.
type databaseURL struct {
	kind string // kindSQLite or kindPostgres
	dsn  string // the file path for SQLite, the whole URL for PostgreSQL
}

// parseDatabaseURL accepts "sqlite:PATH", "postgres://…",
// "postgresql://…", or a bare file path (which means SQLite). Any other
// "scheme://" is refused rather than taken for a file name.
func parseDatabaseURL(raw string) (databaseURL, error) {
	switch {
	case raw == "":
		return databaseURL{}, errors.New("--database-url: is empty; give sqlite:PATH, a file path, or postgres://…")
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return databaseURL{kind: kindPostgres, dsn: raw}, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		if path == "" {
			return databaseURL{}, errors.New("--database-url: sqlite: needs a file path, e.g. sqlite:hookd.db")
		}
		return databaseURL{kind: kindSQLite, dsn: path}, nil
	case strings.Contains(raw, "://"):
		scheme, _, _ := strings.Cut(raw, "://")
		return databaseURL{}, fmt.Errorf("--database-url: unsupported scheme %q; give sqlite:PATH, a file path, or postgres://…", scheme)
	}
	return databaseURL{kind: kindSQLite, dsn: raw}, nil
}

// openStore opens the store rawURL names. It does not migrate: serve and
// migrate call Migrate themselves.
func openStore(ctx context.Context, rawURL string) (store, error) {
	u, err := parseDatabaseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.kind {
	case kindSQLite:
		s, err := sqlite.Open(ctx, u.dsn)
		if err != nil {
			return nil, fmt.Errorf("open SQLite database %s: %w", u.dsn, err)
		}
		return s, nil
	case kindPostgres:
		s, err := postgres.Open(ctx, u.dsn)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL database: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--database-url: unknown kind %q", u.kind)
}
