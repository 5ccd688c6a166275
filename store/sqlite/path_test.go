package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/store/sqlite"
)

// TestPathWithSpecialCharacters checks that the path reaches SQLite as a
// file name, not as URI syntax.
func TestPathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir with spaces, 100% & #hash?")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hookd.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndpointInsert(context.Background(), endpoint("acme")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "hookd.db" && e.Name() != "hookd.db.lock" && e.Name() != "hookd.db-wal" && e.Name() != "hookd.db-shm" {
			t.Errorf("unexpected file %q next to the database", e.Name())
		}
	}
}
