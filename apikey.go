package hookd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"time"
)

// Scopes an API key (or OAuth token) may carry.
const (
	ScopeEndpointsRead   = "endpoints:read"
	ScopeEndpointsWrite  = "endpoints:write"
	ScopeEventsRead      = "events:read"
	ScopeEventsWrite     = "events:write"
	ScopeDeliveriesRead  = "deliveries:read"
	ScopeDeliveriesWrite = "deliveries:write"
	ScopeAdmin           = "admin" // implies every other scope
)

// AllScopes lists every scope, admin last.
var AllScopes = []string{
	ScopeEndpointsRead, ScopeEndpointsWrite, ScopeEventsRead, ScopeEventsWrite,
	ScopeDeliveriesRead, ScopeDeliveriesWrite, ScopeAdmin,
}

// ValidScope reports whether s names a scope.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// APIKey is a credential for the API. Only its hash is stored; the key
// itself is shown once, when created.
type APIKey struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Tenant string   `json:"tenant,omitempty"` // when set, the key sees only this tenant
	Scopes []string `json:"scopes"`
	// Prefix is the start of the key, enough for a person to recognise it.
	Prefix    string    `json:"prefix"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Principal is who is calling: what an API key or OAuth token grants.
type Principal struct {
	KeyID  string
	Tenant string // empty: every tenant
	Scopes []string
}

// Can reports whether p has scope (admin has all).
func (p *Principal) Can(scope string) bool {
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// Sees reports whether p may see tenant's objects.
func (p *Principal) Sees(tenant string) bool { return p.Tenant == "" || p.Tenant == tenant }

// KeyPrefix starts every API key, so secret scanners can spot leaked keys.
const KeyPrefix = "hk_"

// NewAPIKeySecret returns a new random key and its hash. 32 random bytes
// make a slow password hash pointless: SHA-256 of a high-entropy key cannot
// be brute-forced, and it lets the store look keys up by hash.
func NewAPIKeySecret() (key string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// APIKeyPrefix is what a key's record keeps in clear (APIKey.Prefix):
// "hk_" and 8 characters, 48 of its 256 random bits — enough for a person
// to tell keys apart, far too little to guess one.
func APIKeyPrefix(key string) string { return key[:min(len(key), len(KeyPrefix)+8)] }

// HashAPIKey returns the stored form of key.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// LooksLikeAPIKey is a cheap check before hashing arbitrary input.
func LooksLikeAPIKey(s string) bool {
	return strings.HasPrefix(s, KeyPrefix) && len(s) < 200
}
