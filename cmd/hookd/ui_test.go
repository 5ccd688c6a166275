package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// server is "hookd serve" running in-process.
type server struct {
	base   string // http://127.0.0.1:port
	stderr *lineWriter
	stop   func() int // cancels serve and returns its exit status
}

// testAdminKey is the --admin-key of test servers.
const testAdminKey = "hk_test_admin_key_0123456789abcdefghijkl"

// startServe runs serve on db (SQLite, temporary) until the test ends or
// stop is called.
func startServe(t *testing.T, db string, extra ...string) *server {
	t.Helper()
	clearEnv(t)
	errw := &lineWriter{re: regexp.MustCompile(`msg=listening addr=(\S+)`), found: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", db, "--admin-key", testAdminKey}, extra...)
	go func() { done <- run(ctx, args, io.Discard, errw) }()
	var addr string
	select {
	case addr = <-errw.found:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d before listening:\n%s", code, errw.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 20s:\n%s", errw.String())
	}
	s := &server{base: "http://" + addr, stderr: errw}
	stopped := false
	var code int
	s.stop = func() int {
		if stopped {
			return code
		}
		stopped = true
		cancel()
		select {
		case code = <-done:
		case <-time.After(40 * time.Second):
			t.Fatal("serve did not stop within 40s")
		}
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// browser keeps cookies and shows every redirect.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, url string, form url.Values, header ...string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestDashboardSessionSurvivesRestart: without --signing-key, the key is
// kept in the database, so a session and a portal link made before a
// restart still work after it.
func TestDashboardSessionSurvivesRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hookd.db")
	s := startServe(t, db)
	b := browser()
	_, _, page := fetch(t, b, "GET", s.base+"/ui/login", nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form: %s", page)
	}
	if st, _, body := fetch(t, b, "POST", s.base+"/ui/login", url.Values{"key": {testAdminKey}, "csrf": {m[1]}}); st != 303 {
		t.Fatalf("sign-in: %d %s", st, body)
	}
	if st, _, _ := fetch(t, b, "GET", s.base+"/ui/", nil); st != 200 {
		t.Fatalf("dashboard after sign-in: %d", st)
	}
	st, _, link := fetch(t, http.DefaultClient, "POST", s.base+"/v1/tenants/acme/portal-links", nil, "Authorization", "Bearer "+testAdminKey)
	if st != 201 {
		t.Fatalf("portal link: %d %s", st, link)
	}
	portal := regexp.MustCompile(`"url":"([^"]+)"`).FindStringSubmatch(link)[1]
	s.stop()

	s = startServe(t, db)
	// Cookies belong to the host, not the port: the browser sends its
	// session to the new process.
	if st, h, _ := fetch(t, b, "GET", s.base+"/ui/", nil); st != 200 {
		t.Fatalf("after a restart the session is gone: %d → %s", st, h.Get("Location"))
	}
	old, _ := url.Parse(portal)
	old.Host = strings.TrimPrefix(s.base, "http://")
	if st, _, body := fetch(t, browser(), "GET", old.String(), nil); st != 200 || !strings.Contains(body, "/ui/t/acme/deliveries") {
		t.Fatalf("after a restart the portal link fails: %d %s", st, body)
	}

	// With --signing-key the flag wins: the old session is not valid.
	s.stop()
	s = startServe(t, db, "--signing-key", strings.Repeat("k", 40))
	if st, _, _ := fetch(t, b, "GET", s.base+"/ui/", nil); st != 303 {
		t.Fatalf("a session signed with the stored key passed another key: %d", st)
	}
}

// TestServeOAuth: serve wires the OAuth server into the API and the
// consent page beside the dashboard.
func TestServeOAuth(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "hookd.db"))
	st, _, body := fetch(t, http.DefaultClient, "POST", s.base+"/v1/oauth-clients", nil, "Authorization", "Bearer "+testAdminKey)
	if st != 400 && st != 422 {
		t.Fatalf("empty registration: %d %s", st, body)
	}
	req, _ := http.NewRequest("POST", s.base+"/v1/oauth-clients", strings.NewReader(`{"name":"ci","scopes":["endpoints:read"],"redirect_uris":["https://ci.example/cb"]}`))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := regexp.MustCompile(`"client_id":"([^"]+)"`).FindSubmatch(b)
	secret := regexp.MustCompile(`"client_secret":"([^"]+)"`).FindSubmatch(b)
	if res.StatusCode != 201 || id == nil || secret == nil {
		t.Fatalf("registration: %d %s", res.StatusCode, b)
	}
	st, _, body = fetch(t, http.DefaultClient, "POST", s.base+"/oauth/token",
		url.Values{"grant_type": {"client_credentials"}, "client_id": {string(id[1])}, "client_secret": {string(secret[1])}})
	tok := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(body)
	if st != 200 || tok == nil {
		t.Fatalf("token: %d %s", st, body)
	}
	if st, _, body := fetch(t, http.DefaultClient, "GET", s.base+"/v1/tenants/acme/endpoints", nil, "Authorization", "Bearer "+tok[1]); st != 200 {
		t.Fatalf("API with the token: %d %s", st, body)
	}
	// The consent page is there, and sends a stranger to sign in.
	q := url.Values{"response_type": {"code"}, "client_id": {string(id[1])}, "redirect_uri": {"https://ci.example/cb"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	st, h, _ := fetch(t, browser(), "GET", s.base+"/ui/oauth/authorize?"+q.Encode(), nil)
	if st != 303 || !strings.HasPrefix(h.Get("Location"), "/ui/login?next=") {
		t.Fatalf("consent page for a stranger: %d → %q", st, h.Get("Location"))
	}
}
