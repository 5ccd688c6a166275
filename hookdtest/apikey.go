package hookdtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// APIKeyInserter is the part of a hookd.Store that InsertAPIKey needs.
type APIKeyInserter interface {
	APIKeyInsert(context.Context, *hookd.APIKey) error
}

// InsertAPIKey stores a new API key with scopes, bound to tenant unless it
// is "", directly in s (as `hookd serve` stores its first admin key), and
// returns the key. It fails tb if the store refuses it.
func InsertAPIKey(tb testing.TB, s APIKeyInserter, tenant string, scopes ...string) string {
	tb.Helper()
	key, hash := hookd.NewAPIKeySecret()
	err := s.APIKeyInsert(context.Background(), &hookd.APIKey{
		ID: hookd.NewID(hookd.PrefixAPIKey), Name: "test " + strings.Join(scopes, " "), Tenant: tenant, Scopes: scopes,
		Prefix: hookd.APIKeyPrefix(key), Hash: hash, CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		tb.Fatalf("inserting an API key: %v", err)
	}
	return key
}
