package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

const cbURL = "https://app.example.com/callback"

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "billing", "scopes": []string{"endpoints:write", "events:write", "endpoints:read"}})

	tk := e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}})
	if tk.Scope != "endpoints:read endpoints:write events:write" || tk.RefreshToken != "" {
		t.Fatalf("token %+v: want every scope of the client and no refresh token", tk)
	}
	// The token works like an API key.
	e.call("POST", "/v1/tenants/acme/endpoints", tk.AccessToken, map[string]any{"url": "https://example.com/h"}).want(201)
	e.call("POST", "/v1/tenants/acme/events", tk.AccessToken, map[string]any{"type": "a.b", "data": 1}).want(202)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)
	// …with its scopes only.
	e.call("GET", "/v1/tenants/acme/deliveries", tk.AccessToken, nil).want(403)
	e.call("GET", "/v1/api-keys", tk.AccessToken, nil).want(403)

	// Client authentication with form fields works as well as Basic.
	tk2 := e.token("", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {"events:write"}})
	if tk2.Scope != "events:write" || tk2.AccessToken == tk.AccessToken {
		t.Fatalf("narrowed token %+v", tk2)
	}
	e.call("POST", "/v1/tenants/acme/endpoints", tk2.AccessToken, map[string]any{"url": "https://example.com/h"}).want(403)
	e.call("POST", "/v1/tenants/acme/events", tk2.AccessToken, map[string]any{"type": "a.b", "data": 1}).want(202)

	// Only hashes are stored.
	got, err := e.store.OAuthTokenGet(t.Context(), hookd.OAuthAccess, hookd.HashOAuthSecret(tk.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != c.ClientID || string(got.AccessHash) == tk.AccessToken {
		t.Fatalf("stored token %+v", got)
	}
}

func TestClientAuthenticationFailures(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "x", "scopes": []string{"events:write"}})
	cc := url.Values{"grant_type": {"client_credentials"}}

	r := e.form("/oauth/token", c.ClientID+":hkcs_wrong", cc)
	r.oauthErr(401, "invalid_client")
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
		t.Errorf("WWW-Authenticate %q after a failed Basic authentication", got)
	}
	e.form("/oauth/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {"hkcs_wrong"}}).oauthErr(401, "invalid_client")
	e.form("/oauth/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}).oauthErr(401, "invalid_client")
	e.form("/oauth/token", "oac_unknown:"+c.ClientSecret, cc).oauthErr(401, "invalid_client")
	e.form("/oauth/token", "", cc).oauthErr(401, "invalid_client")
	// Two authentication methods at once are refused.
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"client_credentials"}, "client_secret": {c.ClientSecret}}).oauthErr(400, "invalid_request")

	// Malformed requests.
	e.form("/oauth/token", c.basic(), url.Values{}).oauthErr(400, "invalid_request")
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}).oauthErr(400, "unsupported_grant_type")
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"client_credentials", "client_credentials"}}).oauthErr(400, "invalid_request")
	e.form("/oauth/token?client_secret=x", c.basic(), cc).oauthErr(400, "invalid_request")
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("x", 20000)}}).oauthErr(400, "invalid_request")
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	e.send(nil, req).oauthErr(400, "invalid_request")
	e.call("GET", "/oauth/token", "", nil).want(405)

	// A client without redirect URIs cannot use the code grant.
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"authorization_code"}, "code": {"hkac_x"}, "redirect_uri": {cbURL}, "code_verifier": {strings.Repeat("a", 43)}}).oauthErr(400, "invalid_grant")
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "x", "scopes": []string{"events:write", "deliveries:read"}})
	for _, scope := range []string{"admin", "events:write endpoints:write", "events:read", "no-such-scope", "events:write\tdeliveries:read"} {
		e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}).oauthErr(400, "invalid_scope")
	}
	tk := e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}, "scope": {"deliveries:read  deliveries:read"}})
	if tk.Scope != "deliveries:read" {
		t.Fatalf("scope %q", tk.Scope)
	}
	// An admin client may ask for any narrower scope.
	a := e.register(map[string]any{"name": "ops", "scopes": []string{"admin"}})
	tk = e.token(a.basic(), url.Values{"grant_type": {"client_credentials"}, "scope": {"events:read endpoints:read"}})
	if tk.Scope != "endpoints:read events:read" {
		t.Fatalf("scope %q", tk.Scope)
	}
	e.call("GET", "/v1/api-keys", tk.AccessToken, nil).want(403)
}

func TestTenantBoundClient(t *testing.T) {
	e := newEnv(t)
	e.call("POST", "/v1/tenants/other/endpoints", e.admin, map[string]any{"url": "https://example.com/o"}).want(201)
	c := e.register(map[string]any{"name": "acme app", "tenant": "acme", "scopes": []string{"admin"}})
	tk := e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}})
	e.call("POST", "/v1/tenants/acme/endpoints", tk.AccessToken, map[string]any{"url": "https://example.com/a"}).want(201)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)
	// Another tenant does not exist for it: 404, not 403.
	e.call("GET", "/v1/tenants/other/endpoints", tk.AccessToken, nil).want(404)
	e.call("POST", "/v1/tenants/other/events", tk.AccessToken, map[string]any{"type": "a", "data": 1}).want(404)
	// Nor do the routes of no tenant.
	e.call("GET", "/v1/tenants", tk.AccessToken, nil).want(403)
	e.call("POST", "/v1/oauth-clients", tk.AccessToken, map[string]any{"name": "y", "scopes": []string{"admin"}}).want(403)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "x", "scopes": []string{"endpoints:read"}})
	tk := e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}})
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200) // cached now
	e.clock.Advance(59 * time.Minute)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)
	e.clock.Advance(2 * time.Minute)
	r := e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(401)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %v", r.header)
	}
	// A fresh token works at the new time.
	tk = e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}})
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)
	// An unknown token of the right form is 401 too.
	fake, _ := hookd.NewOAuthSecret(hookd.OAuthAccessPrefix)
	e.call("GET", "/v1/tenants/acme/endpoints", fake, nil).want(401)
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "x", "scopes": []string{"endpoints:read"}})
	other := e.register(map[string]any{"name": "y", "scopes": []string{"endpoints:read"}})
	tk := e.token(c.basic(), url.Values{"grant_type": {"client_credentials"}})
	otherTk := e.token(other.basic(), url.Values{"grant_type": {"client_credentials"}})
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200) // cached now

	// Another client cannot revoke it, and learns nothing from trying.
	e.form("/oauth/revoke", other.basic(), url.Values{"token": {tk.AccessToken}}).want(200)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)

	e.form("/oauth/revoke", c.basic(), url.Values{"token": {tk.AccessToken}, "token_type_hint": {"access_token"}}).want(200)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(401)
	// Again, and unknown tokens: still 200 (RFC 7009 §2.2).
	e.form("/oauth/revoke", c.basic(), url.Values{"token": {tk.AccessToken}}).want(200)
	e.form("/oauth/revoke", c.basic(), url.Values{"token": {"not a token"}}).want(200)
	e.form("/oauth/revoke", c.basic(), url.Values{}).oauthErr(400, "invalid_request")
	e.form("/oauth/revoke", c.ClientID+":hkcs_wrong", url.Values{"token": {tk.AccessToken}}).oauthErr(401, "invalid_client")
	e.call("GET", "/v1/tenants/acme/endpoints", otherTk.AccessToken, nil).want(200)

	// Deleting a client revokes its tokens at once.
	e.call("DELETE", "/v1/oauth-clients/"+other.ClientID, e.admin, nil).want(204)
	e.call("GET", "/v1/tenants/acme/endpoints", otherTk.AccessToken, nil).want(401)
	e.form("/oauth/token", other.basic(), url.Values{"grant_type": {"client_credentials"}}).oauthErr(401, "invalid_client")
	e.call("DELETE", "/v1/oauth-clients/"+other.ClientID, e.admin, nil).want(404)
}

func TestClientRegistration(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "app", "scopes": []string{"events:write", "admin", "events:write"}, "tenant": "acme",
		"redirect_uris": []string{cbURL, "http://127.0.0.1:8765/cb", "http://localhost/cb?x=1"}})
	if strings.Join(c.Scopes, ",") != "admin,events:write" || c.Tenant != "acme" || len(c.RedirectURIs) != 3 {
		t.Fatalf("registered %+v", c)
	}
	var list struct {
		Data []map[string]any `json:"data"`
	}
	e.call("GET", "/v1/oauth-clients", e.admin, nil).want(200).into(&list)
	if len(list.Data) != 1 || list.Data[0]["client_id"] != c.ClientID || list.Data[0]["client_secret"] != nil || list.Data[0]["secret_hash"] != nil {
		t.Fatalf("list %+v", list.Data)
	}
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"scopes": []string{"admin"}}, "name"},
		{map[string]any{"name": "x", "scopes": []string{}}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{"root"}}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "tenant": "a b"}, "tenant"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{"http://app.example.com/cb"}}, "redirect_uris[0]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{cbURL, "https://a.example/cb#frag"}}, "redirect_uris[1]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{"/cb"}}, "redirect_uris[0]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{"https://u:p@a.example/cb"}}, "redirect_uris[0]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{cbURL, cbURL}}, "redirect_uris[1]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "redirect_uris": []string{"https://a.example/c b"}}, "redirect_uris[0]"},
		{map[string]any{"name": "x", "scopes": []string{"admin"}, "secret": "mine"}, "secret"},
	} {
		r := e.call("POST", "/v1/oauth-clients", e.admin, bad.body).want(422)
		if !strings.Contains(string(r.body), `"field":"`+bad.field+`"`) {
			t.Errorf("%v: %s, want field %s", bad.body, r.body, bad.field)
		}
	}
	// Only an admin bound to no tenant manages clients.
	acmeAdmin := e.insertKey("acme", hookd.ScopeAdmin)
	e.call("GET", "/v1/oauth-clients", acmeAdmin, nil).want(403)
	e.call("GET", "/v1/oauth-clients", e.insertKey("", hookd.ScopeEndpointsRead), nil).want(403)
	e.call("GET", "/v1/oauth-clients", "", nil).want(401)
}

// codeFlow is one run of the authorization code grant through the
// dashboard's consent page.
type codeFlow struct {
	e        *env
	c        registered
	browser  *http.Client
	verifier string
	query    url.Values
}

func (e *env) newCodeFlow(c registered, scope string) *codeFlow {
	verifier, challenge := pkce("verifier" + c.ClientID)
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {cbURL},
		"state": {"st&=ate 1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	return &codeFlow{e: e, c: c, browser: e.browser(), verifier: verifier, query: q}
}

// consent opens the consent page signed in with key and returns it.
func (f *codeFlow) consent(key string) *resp {
	f.e.t.Helper()
	authz := "/ui/oauth/authorize?" + f.query.Encode()
	// Not signed in: off to the dashboard's sign-in, which comes back.
	r := f.e.get(f.browser, authz).want(303)
	login := r.location()
	if login.Path != "/ui/login" || login.Query().Get("next") == "" {
		f.e.t.Fatalf("redirected to %s, want the sign-in", login)
	}
	page := f.e.get(f.browser, login.String()).want(200)
	r = f.e.postForm(f.browser, "/ui/login", url.Values{"key": {key}, "csrf": {csrfOf(f.e.t, page.body)}, "next": {login.Query().Get("next")}}).want(303)
	back := r.location()
	if back.Path != "/ui/oauth/authorize" {
		f.e.t.Fatalf("after sign-in, sent to %s", back)
	}
	return f.e.get(f.browser, back.String())
}

// approve consents and returns the code.
func (f *codeFlow) approve(page *resp) string {
	f.e.t.Helper()
	v := f.formOf(page)
	v.Set("decision", "approve")
	r := f.e.postForm(f.browser, "/ui/oauth/authorize", v).want(http.StatusFound)
	to := r.location()
	if to.Scheme+"://"+to.Host+to.Path != cbURL || to.Query().Get("state") != f.query.Get("state") {
		f.e.t.Fatalf("sent to %s", to)
	}
	code := to.Query().Get("code")
	if !strings.HasPrefix(code, hookd.OAuthCodePrefix) {
		f.e.t.Fatalf("no code in %s", to)
	}
	return code
}

// formOf reads the consent form's fields back from the page.
func (f *codeFlow) formOf(page *resp) url.Values {
	f.e.t.Helper()
	v := url.Values{"csrf": {csrfOf(f.e.t, page.body)}}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		v.Set(k, hiddenValue(f.e.t, page.body, k))
	}
	return v
}

func hiddenValue(t *testing.T, page []byte, name string) string {
	t.Helper()
	s := string(page)
	i := strings.Index(s, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no field %s in the page", name)
	}
	s = s[i+len(`name="`+name+`" value="`):]
	v := s[:strings.IndexByte(s, '"')]
	for _, r := range [][2]string{{"&amp;", "&"}, {"&#43;", "+"}, {"&#34;", `"`}, {"&#39;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}} {
		v = strings.ReplaceAll(v, r[0], r[1])
	}
	return v
}

func (f *codeFlow) exchange(code, verifier string) *resp {
	return f.e.form("/oauth/token", f.c.basic(), url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL}, "code_verifier": {verifier},
	})
}

func TestAuthorizationCode(t *testing.T) {
	e := newEnv(t)
	e.call("POST", "/v1/tenants/other/endpoints", e.admin, map[string]any{"url": "https://example.com/o"}).want(201)
	c := e.register(map[string]any{"name": "Acme's integration", "tenant": "acme",
		"scopes": []string{"endpoints:read", "endpoints:write", "deliveries:read"}, "redirect_uris": []string{cbURL}})
	f := e.newCodeFlow(c, "endpoints:read deliveries:read")

	page := f.consent(e.admin).want(200)
	for _, want := range []string{"Acme&#39;s integration", c.ClientID, "tenant <strong>acme</strong>", "endpoints:read", "deliveries:read", cbURL} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("consent page lacks %q:\n%s", want, page.body)
		}
	}
	if strings.Contains(string(page.body), "endpoints:write") {
		t.Error("consent page shows a scope not asked for")
	}
	if page.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(page.header.Get("Content-Security-Policy"), "form-action 'self' https://app.example.com") {
		t.Errorf("consent page headers %v", page.header)
	}
	code := f.approve(page)

	tk := tokens{}
	f.exchange(code, f.verifier).want(200).into(&tk)
	if tk.Scope != "deliveries:read endpoints:read" || !strings.HasPrefix(tk.RefreshToken, hookd.OAuthRefreshPrefix) || tk.ExpiresIn != 3600 {
		t.Fatalf("tokens %+v", tk)
	}
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(200)
	e.call("GET", "/v1/tenants/other/endpoints", tk.AccessToken, nil).want(404)
	e.call("POST", "/v1/tenants/acme/endpoints", tk.AccessToken, map[string]any{"url": "https://example.com/a"}).want(403)
	stored, err := e.store.OAuthTokenGet(t.Context(), hookd.OAuthAccess, hookd.HashOAuthSecret(tk.AccessToken))
	if err != nil || stored.Subject == "" || stored.Tenant != "acme" {
		t.Fatalf("stored %+v, %v: want the approver as subject and the client's tenant", stored, err)
	}

	// A code is single-use.
	f.exchange(code, f.verifier).oauthErr(400, "invalid_grant")

	// Refresh: new tokens; the old refresh and access tokens stop working.
	var tk2 tokens
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}).want(200).into(&tk2)
	if tk2.AccessToken == tk.AccessToken || tk2.RefreshToken == tk.RefreshToken || tk2.Scope != tk.Scope || tk2.RefreshToken == "" {
		t.Fatalf("refreshed %+v from %+v", tk2, tk)
	}
	e.call("GET", "/v1/tenants/acme/endpoints", tk2.AccessToken, nil).want(200)
	e.call("GET", "/v1/tenants/acme/endpoints", tk.AccessToken, nil).want(401)
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}).oauthErr(400, "invalid_grant")
	// Fewer scopes on refresh, never more.
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk2.RefreshToken}, "scope": {"endpoints:write"}}).oauthErr(400, "invalid_scope")
	var tk3 tokens
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk2.RefreshToken}, "scope": {"endpoints:read"}}).want(200).into(&tk3)
	if tk3.Scope != "endpoints:read" {
		t.Fatalf("narrowed refresh %+v", tk3)
	}
	e.call("GET", "/v1/tenants/acme/deliveries", tk3.AccessToken, nil).want(403)

	// Another client cannot use the refresh token, even with valid credentials.
	other := e.register(map[string]any{"name": "other", "scopes": []string{"admin"}, "redirect_uris": []string{cbURL}})
	e.form("/oauth/token", other.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk3.RefreshToken}}).oauthErr(400, "invalid_grant")
	// Nor without them.
	e.form("/oauth/token", c.ClientID+":hkcs_wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk3.RefreshToken}}).oauthErr(401, "invalid_client")

	// Revoking the refresh token revokes its access token too.
	e.call("GET", "/v1/tenants/acme/endpoints", tk3.AccessToken, nil).want(200)
	e.form("/oauth/revoke", c.basic(), url.Values{"token": {tk3.RefreshToken}, "token_type_hint": {"refresh_token"}}).want(200)
	e.call("GET", "/v1/tenants/acme/endpoints", tk3.AccessToken, nil).want(401)
	e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk3.RefreshToken}}).oauthErr(400, "invalid_grant")
}

func TestAuthorizationCodeRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.register(map[string]any{"name": "app", "scopes": []string{"endpoints:read"}, "redirect_uris": []string{cbURL}})

	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		code := f.approve(f.consent(e.admin).want(200))
		wrong, _ := pkce("something else")
		f.exchange(code, wrong).oauthErr(400, "invalid_grant")
		// The failed attempt used the code up.
		f.exchange(code, f.verifier).oauthErr(400, "invalid_grant")
	})
	t.Run("no verifier, other redirect_uri, other client", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		code := f.approve(f.consent(e.admin).want(200))
		e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL}}).oauthErr(400, "invalid_request")
		e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL + "/x"}, "code_verifier": {f.verifier}}).oauthErr(400, "invalid_grant")
		other := e.register(map[string]any{"name": "other", "scopes": []string{"endpoints:read"}, "redirect_uris": []string{cbURL}})
		e.form("/oauth/token", other.basic(), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL}, "code_verifier": {f.verifier}}).oauthErr(400, "invalid_grant")
		f.exchange(code, f.verifier).want(200) // none of those used it up
	})
	t.Run("code expires", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		code := f.approve(f.consent(e.admin).want(200))
		e.clock.Advance(11 * time.Minute)
		f.exchange(code, f.verifier).oauthErr(400, "invalid_grant")
	})
	t.Run("refresh token expires", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		var tk tokens
		f.exchange(f.approve(f.consent(e.admin).want(200)), f.verifier).want(200).into(&tk)
		e.clock.Advance(29 * 24 * time.Hour)
		var tk2 tokens
		e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}).want(200).into(&tk2)
		e.clock.Advance(31 * 24 * time.Hour) // the rotated one lives 30 days from its own issue
		e.form("/oauth/token", c.basic(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk2.RefreshToken}}).oauthErr(400, "invalid_grant")
	})
	t.Run("deny", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		v := f.formOf(f.consent(e.admin).want(200))
		v.Set("decision", "deny")
		to := e.postForm(f.browser, "/ui/oauth/authorize", v).want(http.StatusFound).location()
		if to.Query().Get("error") != "access_denied" || to.Query().Get("state") != f.query.Get("state") || to.Query().Get("code") != "" {
			t.Fatalf("denied: sent to %s", to)
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		v := f.formOf(f.consent(e.admin).want(200))
		v.Set("decision", "approve")
		bad := url.Values{}
		for k := range v {
			bad.Set(k, v.Get(k))
		}
		bad.Set("csrf", strings.Repeat("0", 64))
		e.postForm(f.browser, "/ui/oauth/authorize", bad).want(403)
		// An altered parameter invalidates the token.
		bad = url.Values{}
		for k := range v {
			bad.Set(k, v.Get(k))
		}
		bad.Set("state", "other")
		e.postForm(f.browser, "/ui/oauth/authorize", bad).want(403)
		// Another session's browser with this form.
		g := e.newCodeFlow(c, "")
		g.consent(e.admin).want(200)
		e.postForm(g.browser, "/ui/oauth/authorize", v).want(403)
		// A cross-site POST.
		e.postForm(f.browser, "/ui/oauth/authorize", v, "Sec-Fetch-Site", "cross-site").want(403)
		// The genuine form still works.
		f.approve(e.get(f.browser, "/ui/oauth/authorize?"+f.query.Encode()).want(200))
	})
	t.Run("bad client or redirect is shown, not redirected", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		f.signInDirect(e.admin)
		for _, change := range []url.Values{
			{"client_id": {"oac_unknown"}},
			{"redirect_uri": {"https://evil.example/cb"}},
			{"redirect_uri": {cbURL + "/"}},
			{"client_id": {""}},
		} {
			q := url.Values{}
			for k := range f.query {
				q.Set(k, f.query.Get(k))
			}
			for k := range change {
				q.Set(k, change.Get(k))
			}
			r := e.get(f.browser, "/ui/oauth/authorize?"+q.Encode())
			if r.status != 400 || r.header.Get("Location") != "" {
				t.Errorf("%v: status %d, Location %q", change, r.status, r.header.Get("Location"))
			}
		}
	})
	t.Run("request errors go back to the client", func(t *testing.T) {
		e := e.with(t)
		f := e.newCodeFlow(c, "")
		f.signInDirect(e.admin)
		for _, tc := range []struct {
			change url.Values
			code   string
		}{
			{url.Values{"response_type": {"token"}}, "unsupported_response_type"},
			{url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
			{url.Values{"code_challenge": {""}}, "invalid_request"},
			{url.Values{"scope": {"admin"}}, "invalid_scope"},
		} {
			q := url.Values{}
			for k := range f.query {
				q.Set(k, f.query.Get(k))
			}
			for k := range tc.change {
				q.Set(k, tc.change.Get(k))
			}
			to := e.get(f.browser, "/ui/oauth/authorize?"+q.Encode()).want(http.StatusFound).location()
			if to.Query().Get("error") != tc.code || to.Query().Get("state") != f.query.Get("state") || !strings.HasPrefix(to.String(), cbURL) {
				t.Errorf("%v: sent to %s, want error %s", tc.change, to, tc.code)
			}
		}
	})
	t.Run("approver must hold the scopes and tenant", func(t *testing.T) {
		e := e.with(t)
		admin := e.register(map[string]any{"name": "powerful", "scopes": []string{"admin"}, "redirect_uris": []string{cbURL}})
		f := e.newCodeFlow(admin, "")
		r := f.consent(e.insertKey("", hookd.ScopeEndpointsRead, hookd.ScopeDeliveriesRead)).want(403)
		if !strings.Contains(string(r.body), "cannot grant") {
			t.Errorf("page: %s", r.body)
		}
		// A tenant-bound approver cannot approve a client of every tenant…
		f = e.newCodeFlow(c, "")
		f.consent(e.insertKey("acme", hookd.ScopeAdmin)).want(403)
		// …but one of its own tenant.
		mine := e.register(map[string]any{"name": "mine", "tenant": "acme", "scopes": []string{"endpoints:read"}, "redirect_uris": []string{cbURL}})
		f = e.newCodeFlow(mine, "")
		f.exchange(f.approve(f.consent(e.insertKey("acme", hookd.ScopeAdmin)).want(200)), f.verifier).want(200)
	})
	t.Run("portal sessions cannot approve", func(t *testing.T) {
		e := e.with(t)
		mine := e.register(map[string]any{"name": "mine", "tenant": "acme", "scopes": []string{"endpoints:read"}, "redirect_uris": []string{cbURL}})
		var link struct {
			URL string `json:"url"`
		}
		e.call("POST", "/v1/tenants/acme/portal-links", e.admin, nil).want(201).into(&link)
		f := e.newCodeFlow(mine, "")
		e.get(f.browser, link.URL).want(200)
		e.get(f.browser, "/ui/oauth/authorize?"+f.query.Encode()).want(403)
	})
}

// signInDirect signs the flow's browser in without going through the
// consent page first.
func (f *codeFlow) signInDirect(key string) { f.e.signIn(f.browser, key) }
