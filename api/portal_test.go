package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
	"github.com/hookd/hookd/ui"
)

// newPortalEnv serves the API with the dashboard mounted beside it, as
// `hookd serve` does, so that the links the API makes can be opened.
func newPortalEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := hookdtest.Logger(t, slog.LevelWarn)
	eng := delivery.New(st, delivery.Options{Owner: "portal-test", Logger: log})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e := &env{t: t, store: st, clock: &hookdtest.SkewClock{}}
	dash, err := ui.New(ui.Config{Store: st, Engine: eng, Logger: log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api.New(api.Config{Store: st, Engine: eng, Logger: log, Now: e.clock.Now, Portal: dash})
	mux := http.NewServeMux()
	mux.Handle("/ui/", dash)
	mux.Handle("/", e.api)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.admin = e.insertKey("", hookd.ScopeAdmin)
	return e
}

type portalAnswer struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func TestPortalLinks(t *testing.T) {
	e := newPortalEnv(t)
	e.createEndpoint("acme", e.admin, map[string]any{"url": "https://acme.example/hooks"})
	e.createEndpoint("other", e.admin, map[string]any{"url": "https://other.example/hooks"})

	var link portalAnswer
	e.post("/v1/tenants/acme/portal-links", e.admin, nil).want(201).into(&link)
	if !strings.HasPrefix(link.URL, e.srv.URL+"/ui/portal?") {
		t.Fatalf("link %q is not an absolute URL of this server's dashboard", link.URL)
	}
	if d := time.Until(link.ExpiresAt); d < 14*time.Minute || d > 16*time.Minute || link.ExpiresAt.Location() != time.UTC {
		t.Fatalf("expires_at %v, want 15 minutes from now, in UTC", link.ExpiresAt)
	}

	// The link opens the tenant's pages, and only that tenant's.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: e.srv.Client().Transport}
	page := func(url string) (int, string) {
		t.Helper()
		res, err := browser.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := page(link.URL); st != 200 {
		t.Fatalf("opening the link: %d %s", st, body)
	}
	st, body := page(e.srv.URL + "/ui/t/acme/endpoints")
	if st != 200 || !strings.Contains(body, "acme.example/hooks") {
		t.Fatalf("the tenant's endpoints: %d %s", st, body)
	}
	st, body = page(e.srv.URL + "/ui/t/other/endpoints")
	if st != 404 || strings.Contains(body, "other.example") {
		t.Fatalf("another tenant's endpoints through the portal: %d %s", st, body)
	}
	if _, body = page(e.srv.URL + "/ui/"); strings.Contains(body, "other") {
		t.Fatalf("the portal's home names another tenant: %s", body)
	}

	// A link expires.
	e.post("/v1/tenants/acme/portal-links", e.admin, map[string]any{"ttl": "1m"}).want(201).into(&link)
	e.clock.Advance(2 * time.Minute)
	fresh := &http.Client{Transport: e.srv.Client().Transport}
	res, err := fresh.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("an expired link answered %d", res.StatusCode)
	}
}

func TestPortalLinkRequests(t *testing.T) {
	e := newPortalEnv(t)
	var link portalAnswer
	e.post("/v1/tenants/acme/portal-links", e.admin, map[string]any{"ttl": "2h"}).want(201).into(&link)
	if d := time.Until(link.ExpiresAt); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("expires_at %v, want 2h from now", link.ExpiresAt)
	}
	e.do(request{method: "POST", path: "/v1/tenants/acme/portal-links", key: e.admin, body: "", contentType: "-"}).want(201)

	// Behind a proxy that terminated TLS, the link is https.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tenants/acme/portal-links", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || !strings.Contains(string(b), `"url":"https://`) {
		t.Fatalf("%d %s", res.StatusCode, b)
	}

	for _, ttl := range []any{"25h", "0s", "abc", 5, "-1m"} {
		e.post("/v1/tenants/acme/portal-links", e.admin, map[string]any{"ttl": ttl}).problem(422, "ttl")
	}
	e.post("/v1/tenants/acme/portal-links", e.admin, map[string]any{"tenant": "x"}).problem(422, "tenant")
	e.post("/v1/tenants/acme/portal-links", e.admin, `{"ttl":`).problem(400)
	e.post("/v1/tenants/a%20b/portal-links", e.admin, nil).problem(422, "tenant")

	// Admin scope is needed; a tenant's own admin may link its tenant only.
	e.post("/v1/tenants/acme/portal-links", e.insertKey("", hookd.ScopeEndpointsWrite, hookd.ScopeDeliveriesWrite), nil).problem(403)
	acmeAdmin := e.insertKey("acme", hookd.ScopeAdmin)
	e.post("/v1/tenants/acme/portal-links", acmeAdmin, nil).want(201)
	e.post("/v1/tenants/other/portal-links", acmeAdmin, nil).problem(404)
	e.post("/v1/tenants/acme/portal-links", "", nil).problem(401)

	// Without a dashboard there are no links.
	plain := newEnv(t)
	plain.post("/v1/tenants/acme/portal-links", plain.admin, nil).problem(404)
}
