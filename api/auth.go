package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// Authenticator turns a bearer token into the Principal it stands for.
// It returns (nil, nil) when the token is not of its kind, so that the next
// Authenticator may try; an error with code EUNAUTHORIZED when it is of its
// kind but not valid (unknown, expired, revoked); and any other error when
// it could not tell (the store is down). The Principal it returns is shared
// and must not be modified.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*hookd.Principal, error)
}

// keyAuth authenticates API keys: it hashes the presented key, looks the
// hash up in the store, and caches the answer for ttl. The cache is what
// keeps authentication off the store on the hot publish route; its TTL is
// how long a key deleted on another node still works.
type keyAuth struct {
	store hookd.Store
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]keyEntry
}

type keyEntry struct {
	p       *hookd.Principal
	until   time.Time // when to ask the store again
	expires time.Time // the key's own expiry; zero for none
}

// keyCacheSize bounds the cache: a server sees few distinct keys, and a
// flood of distinct valid keys only costs store reads, never memory.
const keyCacheSize = 4096

func newKeyAuth(store hookd.Store, ttl time.Duration, now func() time.Time) *keyAuth {
	return &keyAuth{store: store, ttl: ttl, max: keyCacheSize, now: now, cache: make(map[[sha256.Size]byte]keyEntry)}
}

var errBadKey = hookd.Errorf(hookd.EUNAUTHORIZED, "the API key is not valid")

// Authenticate implements Authenticator for API keys ("hk_…").
func (a *keyAuth) Authenticate(ctx context.Context, token string) (*hookd.Principal, error) {
	if !hookd.LooksLikeAPIKey(token) {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(token))
	now := a.now()
	a.mu.RLock()
	e, ok := a.cache[sum]
	a.mu.RUnlock()
	if ok && now.Before(e.until) {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			return nil, errBadKey
		}
		return e.p, nil
	}
	k, err := a.store.APIKeyGetByHash(ctx, sum[:])
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	// The store found the row by this hash; comparing again in constant
	// time costs nothing and does not rely on how the store compares.
	if subtle.ConstantTimeCompare(k.Hash, sum[:]) != 1 {
		return nil, errBadKey
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, errBadKey
	}
	p := &hookd.Principal{KeyID: k.ID, Tenant: k.Tenant, Scopes: slices.Clone(k.Scopes)}
	a.mu.Lock()
	if len(a.cache) >= a.max {
		a.evictLocked(now)
	}
	a.cache[sum] = keyEntry{p: p, until: now.Add(a.ttl), expires: k.ExpiresAt}
	a.mu.Unlock()
	return p, nil
}

// evictLocked makes room: expired entries first, then arbitrary ones (map
// order is random), a quarter of the cache at a time.
func (a *keyAuth) evictLocked(now time.Time) {
	for h, e := range a.cache {
		if !now.Before(e.until) {
			delete(a.cache, h)
		}
	}
	for h := range a.cache {
		if len(a.cache) < a.max*3/4 {
			break
		}
		delete(a.cache, h)
	}
}

// forget drops the key with this id from the cache, so deleting a key
// through this node takes effect at once.
func (a *keyAuth) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, e := range a.cache {
		if e.p.KeyID == id {
			delete(a.cache, h)
		}
	}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && len(token) <= 4096
}

// authenticate finds the caller's Principal, trying each Authenticator.
func (s *Server) authenticate(r *http.Request) (*hookd.Principal, error) {
	token, ok := bearer(r)
	if !ok {
		return nil, hookd.Errorf(hookd.EUNAUTHORIZED, "an Authorization: Bearer <API key> header is required")
	}
	for _, a := range s.auth {
		p, err := a.Authenticate(r.Context(), token)
		if err != nil {
			return nil, err
		}
		if p != nil {
			return p, nil
		}
	}
	return nil, errBadKey
}

type principalKey struct{}

// PrincipalFromContext returns the caller authenticated for the request
// whose context ctx is, if any.
func PrincipalFromContext(ctx context.Context) (*hookd.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*hookd.Principal)
	return p, ok
}
