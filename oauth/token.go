package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookd/hookd"
)

// maxForm bounds the body of a token or revocation request; every
// legitimate one is a few hundred bytes.
const maxForm = 16 << 10

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	status int
	code   string
	desc   string
	basic  bool // the client tried HTTP Basic: say so in WWW-Authenticate
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func invalidRequest(format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf(format, args...)}
}

// write answers e as JSON, uncacheable, as RFC 6749 §5.2 asks.
func (e *oauthError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.status == http.StatusUnauthorized {
		scheme := "Bearer"
		if e.basic {
			scheme = "Basic"
		}
		h.Set("WWW-Authenticate", scheme+` realm="hookd"`)
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.code, "error_description": e.desc})
}

// parseForm reads a token or revocation request: a form body of bounded
// size, no parameter twice (RFC 6749 §3.2), nothing in the query string,
// where secrets would end up in access logs.
func parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return invalidRequest("parameters belong in the form body, not in the query string")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return invalidRequest("the body is larger than %d bytes", maxForm)
		}
		return invalidRequest("the form body is malformed")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return invalidRequest("the parameter %q is given more than once", truncate(k, 64))
		}
	}
	return nil
}

// clientCredentials returns how the client identified itself: HTTP Basic
// (RFC 6749 §2.3.1, with the form encoding it prescribes undone) or the
// client_id and client_secret form fields. Both at once is refused.
func clientCredentials(r *http.Request) (id, secret string, basic bool, err *oauthError) {
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	u, p, ok := r.BasicAuth()
	if !ok {
		return formID, formSecret, false, nil
	}
	if formSecret != "" {
		return "", "", true, invalidRequest("authenticate the client with HTTP Basic or with form fields, not both")
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil {
		return "", "", true, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "the Basic credentials are malformed", basic: true}
	}
	if formID != "" && formID != id {
		return "", "", true, invalidRequest("client_id differs from the Basic credentials")
	}
	return id, secret, true, nil
}

// dummyClient makes a lookup of an unknown client cost the same hash and
// comparison as a known one.
var dummyClient = client{&hookd.OAuthClient{SecretHash: make([]byte, 32)}}

// authenticateClient checks the client's credentials against the store.
func (s *Server) authenticateClient(r *http.Request) (*hookd.OAuthClient, *oauthError) {
	id, secret, basic, e := clientCredentials(r)
	if e != nil {
		return nil, e
	}
	bad := &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", basic: basic}
	if id == "" {
		bad.desc = "client authentication is required (HTTP Basic, or client_id and client_secret)"
		return nil, bad
	}
	if len(id) > 200 || len(secret) > 200 {
		return nil, bad
	}
	c, err := s.store.OAuthClientGet(r.Context(), id)
	switch {
	case hookd.ErrorCode(err) == hookd.ENOTFOUND:
		dummyClient.VerifyPassword(secret)
		return nil, bad
	case err != nil:
		return nil, s.storeError(err)
	}
	if !(client{c}).VerifyPassword(secret) {
		return nil, bad
	}
	return c, nil
}

// storeError answers a store failure: 503 when it may pass, else 500.
func (s *Server) storeError(err error) *oauthError {
	if hookd.ErrorCode(err) == hookd.EUNAVAILABLE {
		return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the store is unavailable; try again"}
	}
	s.log.Error("oauth: store failed", "err", err)
	return &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "internal error; the server log has the cause"}
}

// Grant types served.
var grantTypes = []string{"authorization_code", "client_credentials", "refresh_token"}

// ServeToken serves POST /oauth/token (RFC 6749 §3.2).
func (s *Server) ServeToken(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(w, r); e != nil {
		e.write(w)
		return
	}
	c, e := s.authenticateClient(r)
	if e != nil {
		e.write(w)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt == "":
		invalidRequest("grant_type is required").write(w)
		return
	case !slices.Contains(grantTypes, gt):
		(&oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type",
			desc: "grant_type must be one of " + strings.Join(grantTypes, ", ")}).write(w)
		return
	}
	if err := s.lib.HandleTokenRequest(w, withClient(r, c)); err != nil {
		s.log.Debug("oauth: writing the token answer", "err", err)
	}
}

// ServeRevoke serves POST /oauth/revoke (RFC 7009). The token's prefix
// says whether it is an access or a refresh token, so token_type_hint is
// not needed; unknown tokens, and tokens of other clients, which are left
// alone, are answered 200 like revoked ones, so the answer tells nobody
// what exists.
func (s *Server) ServeRevoke(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(w, r); e != nil {
		e.write(w)
		return
	}
	c, e := s.authenticateClient(r)
	if e != nil {
		e.write(w)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		invalidRequest("token is required").write(w)
		return
	}
	if e := s.revoke(r, c, token); e != nil {
		e.write(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(r *http.Request, c *hookd.OAuthClient, token string) *oauthError {
	var kind hookd.OAuthTokenKind
	switch {
	case strings.HasPrefix(token, hookd.OAuthAccessPrefix):
		kind = hookd.OAuthAccess
	case strings.HasPrefix(token, hookd.OAuthRefreshPrefix):
		kind = hookd.OAuthRefresh
	default:
		return nil
	}
	ctx := r.Context()
	hash := hookd.HashOAuthSecret(token)
	t, err := s.store.OAuthTokenGet(ctx, kind, hash)
	switch {
	case hookd.ErrorCode(err) == hookd.ENOTFOUND:
		return nil
	case err != nil:
		return s.storeError(err)
	case t.ClientID != c.ID:
		return nil
	}
	if _, err := s.store.OAuthTokenDelete(ctx, kind, hash); err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
		return s.storeError(err)
	}
	s.tokens.forgetToken(t.ID)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
