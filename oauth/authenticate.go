package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

var errBadToken = hookd.Errorf(hookd.EUNAUTHORIZED, "the access token is not valid (unknown, expired or revoked)")

// Authenticate turns an access token into the Principal it stands for; it
// implements api.Authenticator. Tokens without the access token prefix
// are not its kind: (nil, nil), so that the next Authenticator may try.
func (s *Server) Authenticate(ctx context.Context, token string) (*hookd.Principal, error) {
	if !strings.HasPrefix(token, hookd.OAuthAccessPrefix) || len(token) > 200 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	if e, ok := s.tokens.get(sum, now); ok {
		if !now.Before(e.expires) {
			return nil, errBadToken
		}
		return e.p, nil
	}
	t, err := s.store.OAuthTokenGet(ctx, hookd.OAuthAccess, sum[:])
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(t.AccessHash, sum[:]) != 1 || !now.Before(t.AccessExpiresAt) {
		return nil, errBadToken
	}
	p := &hookd.Principal{KeyID: t.ClientID, Tenant: t.Tenant, Scopes: t.Scopes}
	s.tokens.put(sum, tokenEntry{p: p, until: now.Add(s.tokens.ttl), expires: t.AccessExpiresAt, tokenID: t.ID}, now)
	return p, nil
}

// tokenCache keeps looked-up access tokens for ttl, so that the hot routes
// cost no store read for authentication.
type tokenCache struct {
	ttl time.Duration
	max int

	mu sync.RWMutex
	m  map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	p       *hookd.Principal // KeyID is the client's ID
	until   time.Time        // when to ask the store again
	expires time.Time        // the token's own expiry
	tokenID string
}

// tokenCacheSize bounds the cache; a flood of distinct valid tokens costs
// store reads, never memory.
const tokenCacheSize = 4096

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, max: tokenCacheSize, m: make(map[[sha256.Size]byte]tokenEntry)}
}

func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time) (tokenEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[sum]
	c.mu.RUnlock()
	return e, ok && now.Before(e.until)
}

func (c *tokenCache) put(sum [sha256.Size]byte, e tokenEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Expired entries first, then arbitrary ones (map order is
		// random), down to three quarters.
		for h, old := range c.m {
			if !now.Before(old.until) {
				delete(c.m, h)
			}
		}
		for h := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, h)
		}
	}
	c.m[sum] = e
}

// forgetToken drops the entry of the token row id (revoked or rotated).
func (c *tokenCache) forgetToken(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.m {
		if e.tokenID == id {
			delete(c.m, h)
		}
	}
}

// forgetClient drops the entries of a deleted client's tokens.
func (c *tokenCache) forgetClient(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.m {
		if e.p.KeyID == id {
			delete(c.m, h)
		}
	}
}
