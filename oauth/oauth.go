package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/server"

	"github.com/hookd/hookd"
)

// Default lifetimes.
const (
	DefaultAccessTTL  = time.Hour
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultCodeTTL    = 10 * time.Minute
	DefaultCacheTTL   = 5 * time.Second
)

// Dashboard tells the consent page who is signed in to the dashboard.
// *ui.UI implements it.
type Dashboard interface {
	// Visitor returns the principal of the dashboard session on r (nil
	// when there is none) and the session's random ID, to which the
	// consent form's CSRF token is bound. A session opened from a portal
	// link has no KeyID.
	Visitor(r *http.Request) (p *hookd.Principal, sessionID string, err error)
}

// Config is what New needs. Store is required; Dashboard only for the
// consent page.
type Config struct {
	Store  hookd.Store
	Logger *slog.Logger // nil: slog.Default()

	// Dashboard, mounted at BasePath ("/ui/" when empty), signs visitors
	// in for the consent page, which is served at BasePath+"oauth/authorize".
	Dashboard Dashboard
	BasePath  string
	// SigningKey signs the consent form's CSRF tokens; the same on every
	// node. Empty: a random key for this process.
	SigningKey []byte

	AccessTTL  time.Duration // DefaultAccessTTL when 0
	RefreshTTL time.Duration // DefaultRefreshTTL when 0
	CodeTTL    time.Duration // DefaultCodeTTL when 0
	// CacheTTL bounds how long an access token looked up in the store is
	// trusted without asking again, and so how long a token revoked on
	// another node keeps working (DefaultCacheTTL when 0).
	CacheTTL time.Duration

	// Now is the clock of every expiry; nil means time.Now.
	Now func() time.Time
}

// Server is the authorization server.
type Server struct {
	store     hookd.Store
	log       *slog.Logger
	now       func() time.Time
	dashboard Dashboard
	base      string
	csrfKey   []byte
	cop       *http.CrossOriginProtection

	accessTTL, refreshTTL, codeTTL time.Duration

	lib    *server.Server
	tokens *tokenCache

	lastPurge atomic.Int64 // Unix seconds of the last purge started
}

// New returns the authorization server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("oauth: Config.Store is required")
	}
	s := &Server{
		store:      cfg.Store,
		log:        cfg.Logger,
		now:        cfg.Now,
		dashboard:  cfg.Dashboard,
		base:       cfg.BasePath,
		accessTTL:  or(cfg.AccessTTL, DefaultAccessTTL),
		refreshTTL: or(cfg.RefreshTTL, DefaultRefreshTTL),
		codeTTL:    or(cfg.CodeTTL, DefaultCodeTTL),
		cop:        http.NewCrossOriginProtection(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.base == "" {
		s.base = "/ui/"
	}
	if !strings.HasPrefix(s.base, "/") || !strings.HasSuffix(s.base, "/") {
		return nil, errors.New(`oauth: Config.BasePath must start and end with "/"`)
	}
	key := cfg.SigningKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hookd oauth consent"))
	s.csrfKey = m.Sum(nil)
	s.tokens = newTokenCache(or(cfg.CacheTTL, DefaultCacheTTL))
	s.lib = s.newLibrary()
	return s, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// newLibrary configures go-oauth2: our stores and generators, our three
// grants, S256 PKCE only, and the hooks described in the package doc.
func (s *Server) newLibrary() *server.Server {
	m := manage.NewManager()
	m.MapClientStorage(clientStore{s})
	m.MapTokenStorage(tokenStore{s})
	m.MapAuthorizeGenerate(codeGenerator{})
	m.MapAccessGenerate(accessGenerator{})
	m.SetAuthorizeCodeExp(s.codeTTL)
	// RFC 6749 §4.4.3: no refresh token for client credentials; the
	// client can always ask again.
	m.SetClientTokenCfg(&manage.Config{AccessTokenExp: s.accessTTL})
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: s.accessTTL, RefreshTokenExp: s.refreshTTL, IsGenerateRefresh: true})
	// The old refresh token's row holds the old access token too, so
	// removing it by the refresh token revokes both.
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{
		AccessTokenExp: s.accessTTL, RefreshTokenExp: s.refreshTTL,
		IsGenerateRefresh: true, IsResetRefreshTime: true, IsRemoveRefreshing: true,
	})
	m.SetValidateURIHandler(validateRedirect)

	lib := server.NewServer(&server.Config{
		TokenType:                   "Bearer",
		AllowedResponseTypes:        []oauth2.ResponseType{oauth2.Code},
		AllowedGrantTypes:           []oauth2.GrantType{oauth2.AuthorizationCode, oauth2.ClientCredentials, oauth2.Refreshing},
		AllowedCodeChallengeMethods: []oauth2.CodeChallengeMethod{oauth2.CodeChallengeS256},
		ForcePKCE:                   true,
	}, m)
	lib.ClientInfoHandler = authenticatedClientInfo
	lib.ClientScopeHandler = clientScope
	lib.RefreshingScopeHandler = refreshScope
	lib.UserAuthorizationHandler = approver
	lib.InternalErrorHandler = s.internalError
	lib.ResponseErrorHandler = rfcStatus
	return lib
}

// rfcStatus puts the library's error statuses back to RFC 6749 §5.2:
// 400 for everything but invalid_client.
func rfcStatus(re *oerrors.Response) {
	switch re.Error.Error() {
	case "invalid_client":
		re.StatusCode = http.StatusUnauthorized
	case "server_error":
		re.StatusCode = http.StatusInternalServerError
	case "temporarily_unavailable":
		re.StatusCode = http.StatusServiceUnavailable
	default:
		re.StatusCode = http.StatusBadRequest
	}
}

// internalError maps errors that are not the library's own: a code or
// refresh token deleted by a concurrent request is invalid_grant, a store
// that does not answer temporarily_unavailable.
func (s *Server) internalError(err error) *oerrors.Response {
	switch err {
	case oerrors.ErrInvalidRedirectURI, oerrors.ErrInvalidAuthorizeCode, oerrors.ErrInvalidRefreshToken,
		oerrors.ErrExpiredRefreshToken, oerrors.ErrInvalidAccessToken, oerrors.ErrExpiredAccessToken,
		oerrors.ErrMissingCodeVerifier, oerrors.ErrMissingCodeChallenge, oerrors.ErrInvalidCodeChallenge:
		// The library's own errors outside RFC 6749's list: each is a
		// grant that does not hold (§5.2).
		return &oerrors.Response{Error: oerrors.ErrInvalidGrant, Description: err.Error()}
	}
	switch hookd.ErrorCode(err) {
	case hookd.ENOTFOUND:
		return &oerrors.Response{Error: oerrors.ErrInvalidGrant, Description: oerrors.Descriptions[oerrors.ErrInvalidGrant]}
	case hookd.EUNAVAILABLE:
		return &oerrors.Response{Error: oerrors.ErrTemporarilyUnavailable, Description: oerrors.Descriptions[oerrors.ErrTemporarilyUnavailable]}
	}
	s.log.Error("oauth: request failed", "err", err)
	return nil // server_error
}

// ClientDeleted forgets the cached tokens of a deleted client, so that
// they stop working on this node at once (the store has deleted them).
func (s *Server) ClientDeleted(id string) { s.tokens.forgetClient(id) }

// purgeEvery is how often a node deletes tokens that have expired.
const purgeEvery = time.Hour

// maybePurge deletes expired tokens, at most once per purgeEvery per node,
// in the background of a token request.
func (s *Server) maybePurge() {
	now := s.now()
	last := s.lastPurge.Load()
	if now.Unix()-last < int64(purgeEvery/time.Second) || !s.lastPurge.CompareAndSwap(last, now.Unix()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A day of grace keeps a just-expired token's row for logs.
		before := now.Add(-24 * time.Hour)
		for range 100 {
			n, err := s.store.OAuthTokenPurge(ctx, before, 500)
			if err != nil {
				s.log.Debug("oauth: purging expired tokens", "err", err)
				return
			}
			if n < 500 {
				return
			}
		}
	}()
}
