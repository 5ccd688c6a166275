package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/oauth"
	"github.com/hookd/hookd/store/sqlite"
	"github.com/hookd/hookd/ui"
)

// env is hookd as `hookd serve` wires it: the API, the dashboard and the
// OAuth server on a real SQLite file and the real delivery engine, behind
// a real HTTP server, all on one settable clock.
type env struct {
	t     *testing.T
	store hookd.Store
	srv   *httptest.Server
	clock *hookdtest.SkewClock
	admin string // an admin API key bound to no tenant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := hookdtest.Logger(t, slog.LevelWarn)
	eng := delivery.New(st, delivery.Options{Owner: "oauth-test", Logger: log})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e := &env{t: t, store: st, clock: &hookdtest.SkewClock{}}
	key := []byte("a signing key of thirty-two bytes at least")
	dash, err := ui.New(ui.Config{Store: st, Engine: eng, Logger: log, SigningKey: key, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := oauth.New(oauth.Config{Store: st, Logger: log, Dashboard: dash, SigningKey: key, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{
		Store: st, Engine: eng, Logger: log, Now: e.clock.Now,
		OAuth: auth, Authenticators: []api.Authenticator{auth}, Portal: dash,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ui/oauth/authorize", auth.ServeAuthorize)
	mux.Handle("/ui/", dash)
	mux.Handle("/", a)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.admin = e.insertKey("", hookd.ScopeAdmin)
	return e
}

// with returns the env for a subtest, which must fail itself, not its
// parent.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) insertKey(tenant string, scopes ...string) string {
	e.t.Helper()
	return hookdtest.InsertAPIKey(e.t, e.store, tenant, scopes...)
}

// resp is an answer, read whole.
type resp struct {
	t      *testing.T
	status int
	header http.Header
	body   []byte
}

func (r *resp) want(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func (r *resp) into(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// oauthErr checks an RFC 6749 error answer.
func (r *resp) oauthErr(status int, code string) {
	r.t.Helper()
	r.want(status)
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	r.into(&b)
	if b.Error != code || b.Description == "" {
		r.t.Fatalf("error %q (%q), want %q: %s", b.Error, b.Description, code, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		r.t.Errorf("Cache-Control %q on an OAuth error", cc)
	}
}

func (e *env) send(c *http.Client, req *http.Request) *resp {
	e.t.Helper()
	if c == nil {
		c = e.srv.Client()
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &resp{t: e.t, status: res.StatusCode, header: res.Header, body: b}
}

// call sends a JSON request to the API with a bearer credential.
func (e *env) call(method, path, bearer string, body any) *resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(nil, req)
}

// form posts a form to path; basic, when set, is "id:secret" for HTTP
// Basic client authentication.
func (e *env) form(path, basic string, v url.Values) *resp {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		req.SetBasicAuth(id, secret)
	}
	return e.send(nil, req)
}

// registered is a client as registration answers it.
type registered struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Name         string   `json:"name"`
	Tenant       string   `json:"tenant"`
	Scopes       []string `json:"scopes"`
	RedirectURIs []string `json:"redirect_uris"`
}

func (r registered) basic() string { return r.ClientID + ":" + r.ClientSecret }

func (e *env) register(body map[string]any) registered {
	e.t.Helper()
	var c registered
	e.call("POST", "/v1/oauth-clients", e.admin, body).want(201).into(&c)
	if c.ClientID == "" || !strings.HasPrefix(c.ClientSecret, hookd.OAuthClientSecretPrefix) {
		e.t.Fatalf("registration answered %+v", c)
	}
	return c
}

// tokens is a token answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

func (e *env) token(basic string, v url.Values) tokens {
	e.t.Helper()
	r := e.form("/oauth/token", basic, v).want(200)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("token answer Cache-Control %q, want no-store", cc)
	}
	var tk tokens
	r.into(&tk)
	if !strings.HasPrefix(tk.AccessToken, hookd.OAuthAccessPrefix) || tk.TokenType != "Bearer" || tk.ExpiresIn != 3600 || tk.Scope == "" {
		e.t.Fatalf("token answer %s", r.body)
	}
	return tk
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see each one.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (e *env) get(c *http.Client, path string) *resp {
	e.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = e.srv.URL + path
	}
	req, err := http.NewRequest("GET", path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(c, req)
}

func (e *env) postForm(c *http.Client, path string, v url.Values, header ...string) *resp {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.send(c, req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return string(m[1])
}

// signIn signs the browser in to the dashboard with key.
func (e *env) signIn(c *http.Client, key string) {
	e.t.Helper()
	page := e.get(c, "/ui/login").want(200)
	e.postForm(c, "/ui/login", url.Values{"key": {key}, "csrf": {csrfOf(e.t, page.body)}}).want(303)
}

// pkce returns a code verifier and its S256 challenge (RFC 7636 §4.2).
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43] + "-._~"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// location returns a redirect's target.
func (r *resp) location() *url.URL {
	r.t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		r.t.Fatalf("status %d without Location: %s", r.status, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		r.t.Fatal(err)
	}
	return u
}
