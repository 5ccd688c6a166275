package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookd/hookd"
)

// OAuth is the OAuth 2.0 authorization server as the API sees it; package
// oauth implements it. The API routes its endpoints here, so they share
// the API's metrics, limits and OpenAPI document.
type OAuth interface {
	// ServeToken answers POST /oauth/token (RFC 6749).
	ServeToken(w http.ResponseWriter, r *http.Request)
	// ServeRevoke answers POST /oauth/revoke (RFC 7009).
	ServeRevoke(w http.ResponseWriter, r *http.Request)
	// ClientDeleted tells it that a client and its tokens were deleted,
	// so that what it caches of them stops working at once.
	ClientDeleted(id string)
}

func init() { routes = append(routes, oauthRoutes...) }

var oauthRoutes = []route{
	{id: "createOAuthClient", method: "POST", path: "/v1/oauth-clients", scope: hookd.ScopeAdmin, global: true,
		summary: "Register an OAuth client; the answer shows its client_secret, this once",
		body:    typeOf[oauthClientBody](), status: http.StatusCreated, resp: typeOf[oauthClientWithSecret](), serve: createOAuthClient},
	{id: "listOAuthClients", method: "GET", path: "/v1/oauth-clients", scope: hookd.ScopeAdmin, global: true,
		summary: "List OAuth clients (never their secrets)", query: listParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.OAuthClient]](), serve: listOAuthClients},
	{id: "deleteOAuthClient", method: "DELETE", path: "/v1/oauth-clients/{id}", scope: hookd.ScopeAdmin, global: true,
		summary: "Delete an OAuth client and revoke every token issued to it",
		status:  http.StatusNoContent, serve: deleteOAuthClient},
	{id: "oauthToken", method: "POST", path: "/oauth/token",
		summary: "OAuth 2.0 token endpoint (RFC 6749). Form-encoded (application/x-www-form-urlencoded); the client authenticates " +
			"with HTTP Basic or client_id and client_secret fields. Grants: client_credentials [scope]; authorization_code " +
			"(code, redirect_uri, code_verifier: PKCE S256 is required); refresh_token (refresh_token [scope]; refresh tokens rotate). " +
			"Errors are RFC 6749 JSON documents ({\"error\", \"error_description\"}), 400, or 401 for invalid_client",
		status: http.StatusOK, resp: typeOf[oauthTokenAnswer](), serve: oauthToken},
	{id: "oauthRevoke", method: "POST", path: "/oauth/revoke",
		summary: "OAuth 2.0 token revocation (RFC 7009). Form-encoded: token [token_type_hint], with client authentication as for " +
			"the token endpoint. 200 for any token, known or not; revoking a refresh token revokes its access token too",
		status: http.StatusOK, serve: oauthRevoke},
}

// oauthClientBody registers an OAuth client.
type oauthClientBody struct {
	// Name says what the client is.
	Name string `json:"name"`
	// Scopes are the most its tokens may carry; admin implies every other.
	Scopes []string `json:"scopes"`
	// Tenant, when set, binds every token of the client to that tenant.
	Tenant string `json:"tenant,omitempty"`
	// RedirectURIs are where the authorization code grant may return the
	// browser: https, or http on a loopback address (RFC 8252); matched
	// exactly. None: the client may only use client_credentials.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
}

// oauthClientWithSecret answers a registration: the client and, this
// once, its secret.
type oauthClientWithSecret struct {
	*hookd.OAuthClient
	ClientSecret string `json:"client_secret"`
}

// oauthTokenAnswer documents the token endpoint's answer (RFC 6749 §5.1).
type oauthTokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in"`
	// Scope lists the token's scopes, space-separated.
	Scope string `json:"scope"`
	// RefreshToken is issued by the authorization_code and refresh_token grants.
	RefreshToken string `json:"refresh_token,omitempty"`
}

// Limits of a client registration.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 2000
)

func createOAuthClient(c *call) error {
	var b oauthClientBody
	if err := c.decode(&b, c.s.maxBody); err != nil {
		return err
	}
	var v hookd.Validation
	validateGrant(&v, b.Name, b.Scopes, b.Tenant)
	if len(b.RedirectURIs) > maxRedirectURIs {
		v.Add("redirect_uris", "at most %d", maxRedirectURIs)
	} else {
		for i, u := range b.RedirectURIs {
			if msg := checkRedirectURI(u); msg != "" {
				v.Add("redirect_uris["+itoa(i)+"]", "%s", msg)
			} else if slices.Contains(b.RedirectURIs[:i], u) {
				v.Add("redirect_uris["+itoa(i)+"]", "is listed twice")
			}
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	scopes := slices.Clone(b.Scopes)
	slices.Sort(scopes)
	uris := b.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	secret, hash := hookd.NewOAuthSecret(hookd.OAuthClientSecretPrefix)
	oc := &hookd.OAuthClient{
		ID: hookd.NewID(hookd.PrefixOAuthClient), Name: b.Name, Tenant: b.Tenant, Scopes: slices.Compact(scopes),
		RedirectURIs: uris, SecretHash: hash, CreatedAt: c.s.now().UTC(),
	}
	if err := c.s.store.OAuthClientInsert(c.r.Context(), oc); err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/oauth-clients/"+oc.ID)
	return c.respond(http.StatusCreated, oauthClientWithSecret{OAuthClient: oc, ClientSecret: secret})
}

// checkRedirectURI says what is wrong with a redirect URI, or "". RFC 6749
// §3.1.2 wants it absolute and without a fragment; https keeps the code
// from travelling in clear, except to a loopback address (RFC 8252 §7.3),
// where a native application listens.
func checkRedirectURI(raw string) string {
	if len(raw) > maxRedirectURILen {
		return "is longer than " + itoa(maxRedirectURILen) + " bytes"
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "must not contain spaces or control characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "must be an absolute https URL"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not have a fragment"
	case u.User != nil:
		return "must not carry credentials"
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "must be https, or http on a loopback address (127.0.0.1, [::1], localhost)"
	}
	for _, r := range u.Host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.:[]", r)) {
			return "has a host with characters a host name cannot hold"
		}
	}
	return ""
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

func listOAuthClients(c *call) error {
	cs, next, err := c.s.store.OAuthClientList(c.r.Context(), c.q.ListParams)
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(cs, next))
}

func deleteOAuthClient(c *call) error {
	id := c.r.PathValue("id")
	if err := c.s.store.OAuthClientDelete(c.r.Context(), id); err != nil {
		return err
	}
	if c.s.oauth != nil {
		c.s.oauth.ClientDeleted(id)
	}
	return c.noContent()
}

var errNoOAuth = hookd.Errorf(hookd.ENOTFOUND, "OAuth is not enabled on this server")

func oauthToken(c *call) error {
	if c.s.oauth == nil {
		return errNoOAuth
	}
	c.s.oauth.ServeToken(c.w, c.r)
	return nil
}

func oauthRevoke(c *call) error {
	if c.s.oauth == nil {
		return errNoOAuth
	}
	c.s.oauth.ServeRevoke(c.w, c.r)
	return nil
}
