package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestOpenStorePostgres opens, migrates and pings the PostgreSQL store in a
// schema of its own (HOOKD_TEST_DATABASE_URL, else the local server).
func TestOpenStorePostgres(t *testing.T) {
	ctx := context.Background()
	admin := os.Getenv("HOOKD_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Skipf("no PostgreSQL answers: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "cmd_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := openStore(ctx, u.String())
	if err != nil {
		t.Fatalf("openStore: %v", err)
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
