package oauth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/hookd/hookd"
)

// The library's storage and generator interfaces, implemented over
// hookd.AuthStore. The request's context carries the client the request
// is about (authenticated, at the token endpoint) and, for the consent
// page, who approved.

type (
	clientKey   struct{}
	approverKey struct{}
)

func withClient(r *http.Request, c *hookd.OAuthClient) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
}

func clientFrom(ctx context.Context) *hookd.OAuthClient {
	c, _ := ctx.Value(clientKey{}).(*hookd.OAuthClient)
	return c
}

// client is a hookd.OAuthClient as the library sees it.
type client struct{ c *hookd.OAuthClient }

func (c client) GetID() string     { return c.c.ID }
func (c client) GetSecret() string { return "" } // only its hash is known
func (c client) IsPublic() bool    { return false }
func (c client) GetUserID() string { return "" }

// GetDomain is where the library looks for redirect URIs: all of them,
// one per line (a URI holds no newline), for validateRedirect.
func (c client) GetDomain() string { return strings.Join(c.c.RedirectURIs, "\n") }

// VerifyPassword compares hashes in constant time.
func (c client) VerifyPassword(secret string) bool {
	return subtle.ConstantTimeCompare(hookd.HashOAuthSecret(secret), c.c.SecretHash) == 1
}

// validateRedirect accepts exactly a registered redirect URI (RFC 6749
// §3.1.2.3 asks for simple string comparison), where the library's
// default accepts any URI whose host ends with the domain's.
func validateRedirect(registered, uri string) error {
	if uri == "" || !slices.Contains(strings.Split(registered, "\n"), uri) {
		return oerrors.ErrInvalidRedirectURI
	}
	return nil
}

type clientStore struct{ s *Server }

func (cs clientStore) GetByID(ctx context.Context, id string) (oauth2.ClientInfo, error) {
	if c := clientFrom(ctx); c != nil && c.ID == id {
		return client{c}, nil
	}
	c, err := cs.s.store.OAuthClientGet(ctx, id)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, nil // the library makes this invalid_client
	}
	if err != nil {
		return nil, err
	}
	return client{c}, nil
}

// accessGenerator and codeGenerator make tokens and codes: 256 random
// bits each, behind the prefix that says what they are. (The library's
// two generator interfaces both name their method Token, hence two types.)
type (
	accessGenerator struct{}
	codeGenerator   struct{}
)

func (accessGenerator) Token(_ context.Context, _ *oauth2.GenerateBasic, refresh bool) (string, string, error) {
	access, _ := hookd.NewOAuthSecret(hookd.OAuthAccessPrefix)
	if !refresh {
		return access, "", nil
	}
	r, _ := hookd.NewOAuthSecret(hookd.OAuthRefreshPrefix)
	return access, r, nil
}

func (codeGenerator) Token(context.Context, *oauth2.GenerateBasic) (string, error) {
	code, _ := hookd.NewOAuthSecret(hookd.OAuthCodePrefix)
	return code, nil
}

type tokenStore struct{ s *Server }

// Create stores what the library issued, with expiries from our clock.
func (ts tokenStore) Create(ctx context.Context, info oauth2.TokenInfo) error {
	s := ts.s
	c := clientFrom(ctx)
	if c == nil || c.ID != info.GetClientID() {
		var err error
		if c, err = s.store.OAuthClientGet(ctx, info.GetClientID()); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	t := &hookd.OAuthToken{
		ID:                  hookd.NewID(hookd.PrefixOAuthToken),
		ClientID:            c.ID,
		Tenant:              c.Tenant,
		Scopes:              strings.Fields(info.GetScope()),
		Subject:             info.GetUserID(),
		RedirectURI:         info.GetRedirectURI(),
		CodeChallenge:       info.GetCodeChallenge(),
		CodeChallengeMethod: string(info.GetCodeChallengeMethod()),
		CreatedAt:           now,
	}
	if code := info.GetCode(); code != "" {
		t.CodeHash = hookd.HashOAuthSecret(code)
		t.CodeExpiresAt = now.Add(info.GetCodeExpiresIn())
	}
	if access := info.GetAccess(); access != "" {
		t.AccessHash = hookd.HashOAuthSecret(access)
		t.AccessExpiresAt = now.Add(info.GetAccessExpiresIn())
	}
	if refresh := info.GetRefresh(); refresh != "" {
		t.RefreshHash = hookd.HashOAuthSecret(refresh)
		t.RefreshExpiresAt = now.Add(info.GetRefreshExpiresIn())
	}
	if err := s.store.OAuthTokenInsert(ctx, t); err != nil {
		return err
	}
	if t.AccessHash != nil {
		s.maybePurge()
	}
	return nil
}

func (ts tokenStore) remove(ctx context.Context, kind hookd.OAuthTokenKind, secret string) error {
	t, err := ts.s.store.OAuthTokenDelete(ctx, kind, hookd.HashOAuthSecret(secret))
	if err != nil {
		return err // ENOTFOUND: another request used it first; invalid_grant
	}
	ts.s.tokens.forgetToken(t.ID)
	return nil
}

func (ts tokenStore) RemoveByCode(ctx context.Context, code string) error {
	return ts.remove(ctx, hookd.OAuthCode, code)
}

func (ts tokenStore) RemoveByAccess(ctx context.Context, access string) error {
	return ts.remove(ctx, hookd.OAuthAccess, access)
}

func (ts tokenStore) RemoveByRefresh(ctx context.Context, refresh string) error {
	return ts.remove(ctx, hookd.OAuthRefresh, refresh)
}

func (ts tokenStore) GetByCode(ctx context.Context, code string) (oauth2.TokenInfo, error) {
	return ts.get(ctx, hookd.OAuthCode, code)
}

func (ts tokenStore) GetByAccess(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	return ts.get(ctx, hookd.OAuthAccess, access)
}

func (ts tokenStore) GetByRefresh(ctx context.Context, refresh string) (oauth2.TokenInfo, error) {
	return ts.get(ctx, hookd.OAuthRefresh, refresh)
}

// get looks a secret up and returns it as the library's model, or nil
// (which the library makes invalid_grant) when it is unknown, expired by
// our clock, or was issued to another client than the one asking.
func (ts tokenStore) get(ctx context.Context, kind hookd.OAuthTokenKind, secret string) (oauth2.TokenInfo, error) {
	t, err := ts.s.store.OAuthTokenGet(ctx, kind, hookd.HashOAuthSecret(secret))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c := clientFrom(ctx); c != nil && c.ID != t.ClientID {
		return nil, nil
	}
	// The library judges expiry by time.Now: present the token as issued
	// now with what is left of its life by our clock.
	now, wall := ts.s.now(), time.Now()
	left := t.ExpiresAt(kind).Sub(now)
	if left <= 0 {
		return nil, nil
	}
	m := models.NewToken()
	m.ClientID, m.UserID, m.RedirectURI = t.ClientID, t.Subject, t.RedirectURI
	m.Scope = strings.Join(t.Scopes, " ")
	m.CodeChallenge, m.CodeChallengeMethod = t.CodeChallenge, t.CodeChallengeMethod
	switch kind {
	case hookd.OAuthCode:
		m.Code, m.CodeCreateAt, m.CodeExpiresIn = secret, wall, left
	case hookd.OAuthAccess:
		m.Access, m.AccessCreateAt, m.AccessExpiresIn = secret, wall, left
	case hookd.OAuthRefresh:
		m.Refresh, m.RefreshCreateAt, m.RefreshExpiresIn = secret, wall, left
	}
	return m, nil
}
