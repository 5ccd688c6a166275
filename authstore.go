package hookd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// AuthStore is the part of Store that keeps OAuth clients and tokens and
// the server's own persistent secrets (e.g. the key that signs dashboard
// sessions and portal links, which every node must share).
//
// Tokens are kept as SHA-256 hashes of their secret values, so a copy of
// the database grants nothing, and every node sees a revocation at its
// next lookup. The store does not judge expiry: it returns what it holds
// and the caller compares the expiry times with its own clock.
type AuthStore interface {
	// OAuthClientInsert stores a client; EDUPLICATE if its ID is taken.
	OAuthClientInsert(ctx context.Context, c *OAuthClient) error
	// OAuthClientGet returns a client; ENOTFOUND if absent.
	OAuthClientGet(ctx context.Context, id string) (*OAuthClient, error)
	// OAuthClientList lists clients, newest first.
	OAuthClientList(ctx context.Context, p ListParams) ([]*OAuthClient, string, error)
	// OAuthClientDelete removes a client and every token issued to it,
	// in one transaction; ENOTFOUND if absent.
	OAuthClientDelete(ctx context.Context, id string) error

	// OAuthTokenInsert stores an issued code or token; EDUPLICATE if its
	// ID or one of its hashes is taken.
	OAuthTokenInsert(ctx context.Context, t *OAuthToken) error
	// OAuthTokenGet finds the token whose secret of the given kind has
	// this hash, expired or not; ENOTFOUND if none.
	OAuthTokenGet(ctx context.Context, kind OAuthTokenKind, hash []byte) (*OAuthToken, error)
	// OAuthTokenDelete removes the token whose secret of the given kind
	// has this hash, with all its secrets (revoking a refresh token also
	// revokes the access token issued with it), and returns what it
	// removed; ENOTFOUND if none. Exactly one of two concurrent calls for
	// the same hash succeeds, which is what makes a code single-use.
	OAuthTokenDelete(ctx context.Context, kind OAuthTokenKind, hash []byte) (*OAuthToken, error)
	// OAuthTokenPurge deletes up to batch tokens whose every secret
	// expired before before, returning how many it deleted.
	OAuthTokenPurge(ctx context.Context, before time.Time, batch int) (int, error)

	// ServerSecretGetOrCreate returns the secret stored under name,
	// storing newValue first if there is none. Of several nodes calling
	// it at once with different values, all get the same one.
	ServerSecretGetOrCreate(ctx context.Context, name string, newValue []byte) ([]byte, error)
}

// PrefixOAuthClient starts OAuth client IDs; PrefixOAuthToken the IDs of
// issued tokens (never their secret values).
const (
	PrefixOAuthClient = "oac"
	PrefixOAuthToken  = "oat"
)

// OAuthClient is an application that may obtain access tokens with the
// scopes (at most) and tenant it was registered with. Only the hash of
// its secret is stored; the secret is shown once, when created.
type OAuthClient struct {
	ID   string `json:"client_id"`
	Name string `json:"name"`
	// Tenant, when set, binds every token of the client to that tenant.
	Tenant string   `json:"tenant,omitempty"`
	Scopes []string `json:"scopes"`
	// RedirectURIs are where the authorization code grant may send the
	// browser back; they must match exactly.
	RedirectURIs []string  `json:"redirect_uris"`
	SecretHash   []byte    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// OAuthTokenKind names one of the secrets an OAuthToken may carry.
type OAuthTokenKind uint8

// Kinds of OAuth secrets.
const (
	OAuthCode    OAuthTokenKind = iota + 1 // an authorization code
	OAuthAccess                            // an access token
	OAuthRefresh                           // a refresh token
)

// OAuthToken is what the authorization server issued in one grant: an
// authorization code waiting to be exchanged, or an access token with an
// optional refresh token. Each secret is stored as its SHA-256 hash
// (HashOAuthSecret); a nil hash means the token has no secret of that
// kind, and its expiry is zero.
type OAuthToken struct {
	ID       string
	ClientID string
	Tenant   string
	Scopes   []string
	// Subject is who approved an authorization code grant (the ID of
	// the API key signed in to the dashboard); empty for client
	// credentials.
	Subject string
	// RedirectURI is the one an authorization code was issued for; the
	// exchange must present the same.
	RedirectURI string
	// CodeChallenge and CodeChallengeMethod are the PKCE challenge of an
	// authorization code (RFC 7636).
	CodeChallenge       string
	CodeChallengeMethod string

	CodeHash, AccessHash, RefreshHash                []byte
	CodeExpiresAt, AccessExpiresAt, RefreshExpiresAt time.Time
	CreatedAt                                        time.Time
}

// Hash returns the stored hash of the token's secret of kind k.
func (t *OAuthToken) Hash(k OAuthTokenKind) []byte {
	switch k {
	case OAuthCode:
		return t.CodeHash
	case OAuthAccess:
		return t.AccessHash
	case OAuthRefresh:
		return t.RefreshHash
	}
	return nil
}

// ExpiresAt returns when the token's secret of kind k expires.
func (t *OAuthToken) ExpiresAt(k OAuthTokenKind) time.Time {
	switch k {
	case OAuthCode:
		return t.CodeExpiresAt
	case OAuthAccess:
		return t.AccessExpiresAt
	case OAuthRefresh:
		return t.RefreshExpiresAt
	}
	return time.Time{}
}

// PurgeAt is when every secret of the token has expired, after which the
// store may drop it.
func (t *OAuthToken) PurgeAt() time.Time {
	return maxTime(t.CodeExpiresAt, maxTime(t.AccessExpiresAt, t.RefreshExpiresAt))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// OAuth secret prefixes. They let a reader (and a secret scanner) tell the
// kinds apart, and none starts with KeyPrefix, so an OAuth token is never
// mistaken for an API key.
const (
	OAuthClientSecretPrefix = "hkcs_"
	OAuthCodePrefix         = "hkac_"
	OAuthAccessPrefix       = "hkat_"
	OAuthRefreshPrefix      = "hkrt_"
)

// NewOAuthSecret returns prefix followed by 32 random bytes (base64url),
// and the hash under which it is stored. As with API keys, the entropy
// makes a slow password hash pointless and lets the store look secrets
// up by hash.
func NewOAuthSecret(prefix string) (secret string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashOAuthSecret(secret)
}

// HashOAuthSecret returns the stored form of an OAuth client secret, code
// or token.
func HashOAuthSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
