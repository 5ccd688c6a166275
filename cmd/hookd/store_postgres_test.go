package main

import (
	"context"
	"testing"

	"github.com/hookd/hookd/store/postgres/pgtest"
)

// TestOpenStorePostgres opens, migrates and pings the PostgreSQL store in a
// database of its own (see pgtest for the server and when it skips).
func TestOpenStorePostgres(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, pgtest.NewDatabase(t))
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
