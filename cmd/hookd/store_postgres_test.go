package main

import (
	"testing"

	"github.com/hookd/hookd/store/postgres/pgtest"
)

// TestOpenStorePostgres opens, migrates and pings the PostgreSQL store in a
// database of its own (see pgtest for the server and when it skips).
func TestOpenStorePostgres(t *testing.T) {
	openMigratePing(t, pgtest.NewDatabase(t))
}
