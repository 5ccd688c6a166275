package main

import (
	"context"
	"strings"
	"testing"
)

func TestParseDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want databaseURL
	}{
		{"sqlite:hookd.db", databaseURL{kindSQLite, "hookd.db"}},
		{"sqlite:/var/lib/hookd/data.db", databaseURL{kindSQLite, "/var/lib/hookd/data.db"}},
		{"hookd.db", databaseURL{kindSQLite, "hookd.db"}},
		{"./data/hookd.db", databaseURL{kindSQLite, "./data/hookd.db"}},
		{"/tmp/x.db", databaseURL{kindSQLite, "/tmp/x.db"}},
		{"postgres://u@127.0.0.1:5432/hookd?sslmode=disable", databaseURL{kindPostgres, "postgres://u@127.0.0.1:5432/hookd?sslmode=disable"}},
		{"postgresql://u@db/hookd", databaseURL{kindPostgres, "postgresql://u@db/hookd"}},
	} {
		got, err := parseDatabaseURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDatabaseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "sqlite:", "mysql://db/hookd", "http://example.com/x.db"} {
		if got, err := parseDatabaseURL(bad); err == nil {
			t.Errorf("parseDatabaseURL(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestOpenStoreSQLite(t *testing.T) {
	path := t.TempDir() + "/hookd.db"
	for _, url := range []string{"sqlite:" + path, path} {
		openMigratePing(t, url)
	}
}

// openMigratePing opens the store url names, migrates and pings it, and
// closes it.
func openMigratePing(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, url)
	if err != nil {
		t.Fatalf("openStore(%q): %v", url, err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := openStore(ctx, "mysql://db"); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Errorf("mysql: err = %v, want unsupported scheme", err)
	}
	// A directory that does not exist cannot hold the file.
	if _, err := openStore(ctx, "sqlite:"+t.TempDir()+"/missing/dir/hookd.db"); err == nil {
		t.Error("a path under a missing directory opened without error")
	}
}
