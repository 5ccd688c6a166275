package ui

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	e.endpoint("acme", "https://acme.example/hooks")
	key := e.adminKey()
	c := e.client(t)

	r := c.get("/ui/")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/ui/login") {
		t.Fatalf("signed out: %d to %q, want 303 to the sign-in page", r.status, r.loc)
	}
	c.want(c.get("/ui/login"), http.StatusOK, `<label for="key">API key</label>`)

	// Wrong keys: a clear 401, and no session.
	for _, bad := range []string{"", "nonsense", hookd.KeyPrefix + "wrong", key + "x"} {
		r := c.post("/ui/login", url.Values{"key": {bad}})
		c.want(r, http.StatusUnauthorized, "not a valid API key")
		if len(r.header.Values("Set-Cookie")) > 0 && strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), sessionCookie+"=ey") {
			t.Fatalf("a failed sign-in set a session: %v", r.header.Values("Set-Cookie"))
		}
	}

	r = c.post("/ui/login", url.Values{"key": {key}})
	if r.status != http.StatusSeeOther || r.loc != "/ui/" {
		t.Fatalf("sign in: %d to %q", r.status, r.loc)
	}
	var sc *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	switch {
	case sc == nil:
		t.Fatal("no session cookie")
	case !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure:
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", sc)
	case strings.Contains(sc.Value, key) || strings.Contains(sc.Value, key[len(hookd.KeyPrefix):]):
		t.Fatal("the session cookie carries the API key")
	case sc.Path != "/ui/":
		t.Fatalf("cookie path %q", sc.Path)
	}
	c.want(c.get("/ui/"), http.StatusOK, "Tenants", `href="/ui/t/acme/"`)

	// Sign out ends the session.
	r = c.post("/ui/logout", nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.status)
	}
	if r := c.get("/ui/"); r.status != http.StatusSeeOther {
		t.Fatalf("after sign out: %d, want a redirect to sign in", r.status)
	}

	// After sign-in, the page asked for is where the visitor lands.
	c.get("/ui/login?next=" + url.QueryEscape("/ui/t/acme/deliveries"))
	r = c.post("/ui/login", url.Values{"key": {key}, "next": {"/ui/t/acme/deliveries"}})
	if r.loc != "/ui/t/acme/deliveries" {
		t.Fatalf("next: landed on %q", r.loc)
	}
	// …but never another site.
	c = e.client(t)
	c.get("/ui/login")
	r = c.post("/ui/login", url.Values{"key": {key}, "next": {"//evil.example/ui/"}})
	if r.loc != "/ui/" {
		t.Fatalf("open redirect to %q", r.loc)
	}
}

func TestSessionEnds(t *testing.T) {
	e := newEnv(t)
	e.endpoint("acme", "https://acme.example/hooks")

	t.Run("KeyDeleted", func(t *testing.T) {
		defer e.use(t)()
		key := e.adminKey()
		c := e.client(t)
		c.signIn(key)
		c.want(c.get("/ui/"), http.StatusOK)
		k, err := e.store.APIKeyGetByHash(e.ctx, hookd.HashAPIKey(key))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.APIKeyDelete(e.ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if r := c.get("/ui/t/acme/endpoints"); r.status != http.StatusSeeOther {
			t.Fatalf("deleted key still signed in: %d", r.status)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.signIn(e.adminKey())
		c.want(c.get("/ui/"), http.StatusOK)
		e.clock.Advance(KeySessionTTL + time.Second)
		defer e.clock.Advance(-KeySessionTTL - time.Second)
		if r := c.get("/ui/"); r.status != http.StatusSeeOther {
			t.Fatalf("expired session still signed in: %d", r.status)
		}
	})
	t.Run("Tampered", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.signIn(e.key("acme", hookd.ScopeDeliveriesRead))
		u, _ := url.Parse(e.srv.URL + "/ui/")
		ck := c.hc.Jar.Cookies(u)[0]
		payload, sig, _ := strings.Cut(ck.Value, ".")
		forged := strings.Replace(payload, "e", "f", 1) + "." + sig
		c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: forged, Path: "/ui/"}})
		if r := c.get("/ui/t/acme/deliveries"); r.status != http.StatusSeeOther {
			t.Fatalf("tampered cookie accepted: %d", r.status)
		}
	})
}

func TestSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.tls = true })
	c := e.client(t)
	c.get("/ui/login")
	r := c.post("/ui/login", url.Values{"key": {e.adminKey()}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign in over TLS: %d", r.status)
	}
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == sessionCookie && !ck.Secure {
			t.Fatal("session cookie over TLS is not Secure")
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	d := e.failed(ep, hookd.OutcomeHTTPError, 500)
	c := e.client(t)
	c.signIn(e.adminKey())
	page := "/ui/t/acme/deliveries/" + d.ID
	c.want(c.get(page), http.StatusOK, `id="redeliver"`)
	good := c.csrf
	retry := page + "/retry"

	other := e.client(t)
	other.signIn(e.adminKey())
	other.get("/ui/")

	cases := []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"NoToken", url.Values{"csrf": {""}}, nil},
		{"WrongToken", url.Values{"csrf": {strings.Repeat("ab", 32)}}, nil},
		{"OtherSessionsToken", url.Values{"csrf": {other.csrf}}, nil},
		{"CrossSite", nil, []string{"Sec-Fetch-Site", "cross-site"}},
		{"ForeignOrigin", nil, []string{"Origin", "https://evil.example"}},
	}
	for _, tc := range cases {
		c.csrf = good
		r := c.post(retry, tc.form, tc.hdr...)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "could not be verified") {
			t.Errorf("%s: status %d, want 403 and an explanation", tc.name, r.status)
		}
		if got := e.delivery("acme", d.ID); got.State != hookd.StateFailed {
			t.Fatalf("%s: a refused form changed the delivery: %s", tc.name, got.State)
		}
	}

	// The sign-in form is protected too.
	fresh := e.client(t)
	fresh.get("/ui/login")
	r := fresh.post("/ui/login", url.Values{"key": {e.adminKey()}, "csrf": {"00"}})
	fresh.want(r, http.StatusForbidden, "could not be verified")

	// And the right token from the same origin works.
	c.csrf = good
	r = c.post(retry, nil, "Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL)
	if r.status != http.StatusSeeOther {
		t.Fatalf("good form: %d\n%s", r.status, r.body)
	}
	if got := e.delivery("acme", d.ID); got.State != hookd.StatePending {
		t.Fatalf("redeliver: state %s, want pending", got.State)
	}
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	d := e.failed(ep, hookd.OutcomeConnectError, 0)
	epPage := "/ui/t/acme/endpoints/" + ep.ID
	dPage := "/ui/t/acme/deliveries/" + d.ID

	t.Run("DeliveriesReadOnly", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.signIn(e.key("", hookd.ScopeDeliveriesRead))
		r := c.get(dPage)
		c.want(r, http.StatusOK, "Unable to connect")
		if strings.Contains(r.body, `id="redeliver"`) {
			t.Error("Redeliver offered without deliveries:write")
		}
		if strings.Contains(r.body, `"amount"`) {
			t.Error("event data shown without events:read")
		}
		c.want(c.get(dPage), http.StatusOK)
		c.want(c.post(dPage+"/retry", nil), http.StatusForbidden, "deliveries:write")
		c.want(c.get("/ui/t/acme/endpoints"), http.StatusForbidden, "endpoints:read")
		if got := e.delivery("acme", d.ID); got.State != hookd.StateFailed {
			t.Fatalf("state %s", got.State)
		}
	})
	t.Run("EndpointsReadOnly", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.signIn(e.key("", hookd.ScopeEndpointsRead))
		r := c.get(epPage)
		c.want(r, http.StatusOK, ep.URL)
		if strings.Contains(r.body, "Disable endpoint") || strings.Contains(r.body, "Rotate secret</button>") {
			t.Error("write actions offered without endpoints:write")
		}
		c.want(c.post(epPage+"/disable", nil), http.StatusForbidden)
		c.want(c.post(epPage+"/rotate", nil), http.StatusForbidden)
		c.want(c.get("/ui/t/acme/deliveries"), http.StatusForbidden)
		got, _ := e.store.EndpointGet(e.ctx, "acme", ep.ID)
		if !got.Enabled || got.Secrets[0] != ep.Secrets[0] {
			t.Fatal("a read-only key changed the endpoint")
		}
	})
	t.Run("NoReadScope", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.get("/ui/login")
		c.want(c.post("/ui/login", url.Values{"key": {e.key("", hookd.ScopeEventsWrite)}}), http.StatusForbidden, "neither endpoints:read nor deliveries:read")
	})
	t.Run("Writer", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		c.signIn(e.key("", hookd.ScopeDeliveriesRead, hookd.ScopeDeliveriesWrite, hookd.ScopeEventsRead))
		r := c.get(dPage)
		c.want(r, http.StatusOK, `id="redeliver"`, "&#34;amount&#34;: 1999")
		if r := c.post(dPage+"/retry", nil); r.status != http.StatusSeeOther {
			t.Fatalf("retry: %d", r.status)
		}
	})
}

func TestTenantKey(t *testing.T) {
	e := newEnv(t)
	acme := e.endpoint("acme", "https://acme.example/hooks")
	globex := e.endpoint("globex", "https://globex.example/hooks")
	dAcme := e.failed(acme, hookd.OutcomeTimeout, 0)
	dGlobex := e.failed(globex, hookd.OutcomeTimeout, 0)
	c := e.client(t)
	c.signIn(e.key("acme", hookd.ScopeAdmin))

	r := c.get("/ui/")
	if r.status != http.StatusSeeOther || r.loc != "/ui/t/acme/" {
		t.Fatalf("tenant key home: %d to %q", r.status, r.loc)
	}
	r = c.get("/ui/t/acme/deliveries")
	c.want(r, http.StatusOK, dAcme.ID[len(dAcme.ID)-10:])
	if strings.Contains(r.body, "Tenants</a>") {
		t.Error("a tenant key is offered the tenant list")
	}
	for _, path := range []string{
		"/ui/t/globex/deliveries",
		"/ui/t/globex/endpoints",
		"/ui/t/globex/deliveries/" + dGlobex.ID,
		"/ui/t/acme/deliveries/" + dGlobex.ID,
		"/ui/t/acme/endpoints/" + globex.ID,
		"/ui/t/nosuch/endpoints",
	} {
		r := c.get(path)
		c.want(r, http.StatusNotFound)
		if strings.Contains(r.body, dGlobex.ID) || strings.Contains(r.body, globex.URL) {
			t.Fatalf("%s shows globex's data", path)
		}
	}
	c.get("/ui/t/acme/endpoints")
	for _, path := range []string{
		"/ui/t/globex/deliveries/" + dGlobex.ID + "/retry",
		"/ui/t/acme/deliveries/" + dGlobex.ID + "/retry",
		"/ui/t/globex/endpoints/" + globex.ID + "/disable",
		"/ui/t/acme/endpoints/" + globex.ID + "/disable",
	} {
		c.want(c.post(path, nil), http.StatusNotFound)
	}
	if got := e.delivery("globex", dGlobex.ID); got.State != hookd.StateFailed {
		t.Fatal("acme's key redelivered globex's delivery")
	}
	if got, _ := e.store.EndpointGet(e.ctx, "globex", globex.ID); !got.Enabled {
		t.Fatal("acme's key disabled globex's endpoint")
	}
}

func TestPortal(t *testing.T) {
	e := newEnv(t)
	acme := e.endpoint("acme", "https://acme.example/hooks")
	globex := e.endpoint("globex", "https://globex.example/hooks")
	dAcme := e.failed(acme, hookd.OutcomeHTTPError, 503)
	dGlobex := e.failed(globex, hookd.OutcomeHTTPError, 503)

	link, exp := e.ui.PortalLink("acme", 10*time.Minute, e.srv.URL)
	if d := time.Until(exp); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("expires in %v, want 10m", d)
	}
	if !strings.HasPrefix(link, e.srv.URL+"/ui/portal?") {
		t.Fatalf("link %q", link)
	}
	path := strings.TrimPrefix(link, e.srv.URL)

	t.Run("Opens", func(t *testing.T) {
		defer e.use(t)()
		c := e.client(t)
		r := c.get(path)
		c.want(r, http.StatusOK, `content="0;url=/ui/t/acme/deliveries"`)
		r = c.get("/ui/t/acme/deliveries")
		c.want(r, http.StatusOK, "Portal for <strong>acme</strong>", dAcme.ID[len(dAcme.ID)-10:])
		if strings.Contains(r.body, "Tenants</a>") {
			t.Error("portal offered the tenant list")
		}
		// Another tenant's objects do not exist for it.
		for _, p := range []string{
			"/ui/t/globex/deliveries", "/ui/t/globex/deliveries/" + dGlobex.ID,
			"/ui/t/acme/deliveries/" + dGlobex.ID, "/ui/t/acme/endpoints/" + globex.ID,
		} {
			c.want(c.get(p), http.StatusNotFound)
		}
		if r := c.get("/ui/"); r.loc != "/ui/t/acme/" {
			t.Fatalf("portal home goes to %q", r.loc)
		}
		// Read and redeliver, but no endpoint changes.
		c.want(c.get("/ui/t/acme/endpoints/"+acme.ID), http.StatusOK, acme.URL)
		c.want(c.post("/ui/t/acme/endpoints/"+acme.ID+"/disable", nil), http.StatusForbidden)
		c.get("/ui/t/acme/deliveries/" + dAcme.ID)
		if r := c.post("/ui/t/acme/deliveries/"+dAcme.ID+"/retry", nil); r.status != http.StatusSeeOther {
			t.Fatalf("portal redeliver: %d", r.status)
		}
		c.want(c.post("/ui/t/acme/deliveries/"+dGlobex.ID+"/retry", nil), http.StatusNotFound)
		if got := e.delivery("globex", dGlobex.ID); got.State != hookd.StateFailed {
			t.Fatal("the portal redelivered another tenant's delivery")
		}
		// The session outlives the link, but not by more than PortalSessionTTL.
		e.clock.Advance(PortalSessionTTL + time.Second)
		defer e.clock.Advance(-PortalSessionTTL - time.Second)
		if r := c.get("/ui/t/acme/deliveries"); r.status != http.StatusSeeOther {
			t.Fatalf("portal session after its TTL: %d", r.status)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		defer e.use(t)()
		e.clock.Advance(10*time.Minute + time.Second)
		defer e.clock.Advance(-10*time.Minute - time.Second)
		c := e.client(t)
		c.want(c.get(path), http.StatusForbidden, "expired")
		if r := c.get("/ui/t/acme/deliveries"); r.status != http.StatusSeeOther {
			t.Fatal("an expired link made a session")
		}
	})

	t.Run("Tampered", func(t *testing.T) {
		defer e.use(t)()
		u, _ := url.Parse(link)
		q := u.Query()
		variants := map[string]url.Values{}
		set := func(name, k, v string) {
			c := url.Values{}
			for kk, vv := range q {
				c[kk] = vv
			}
			c.Set(k, v)
			variants[name] = c
		}
		set("OtherTenant", "t", "globex")
		set("LaterExpiry", "exp", fmt.Sprint(exp.Unix()+3600))
		sig := q.Get("sig")
		flip := "0"
		if sig[len(sig)-1] == '0' {
			flip = "1"
		}
		set("FlippedSig", "sig", sig[:len(sig)-1]+flip)
		set("NoSig", "sig", "")
		set("BadExp", "exp", "soon")
		set("BadTenant", "t", "a/b")
		for name, v := range variants {
			t.Run(name, func(t *testing.T) {
				c := e.client(t)
				c.want(c.get("/ui/portal?"+v.Encode()), http.StatusForbidden, "not valid")
				if r := c.get("/ui/t/globex/deliveries"); r.status != http.StatusSeeOther {
					t.Fatal("a tampered link made a session")
				}
			})
		}
	})

	t.Run("TTLBounds", func(t *testing.T) {
		defer e.use(t)()
		_, exp := e.ui.PortalLink("acme", 0, "")
		if d := time.Until(exp); d > DefaultPortalTTL+time.Second || d < DefaultPortalTTL-time.Minute {
			t.Errorf("ttl 0 gives %v", d)
		}
		_, exp = e.ui.PortalLink("acme", 1000*time.Hour, "")
		if d := time.Until(exp); d > MaxPortalTTL+time.Second {
			t.Errorf("ttl 1000h gives %v", d)
		}
	})
}

func TestOutcomeLabels(t *testing.T) {
	cases := []struct {
		o      hookd.Outcome
		status int
		label  string
		hint   string
	}{
		{hookd.OutcomeConnectError, 0, "Unable to connect", "accepts connections"},
		{hookd.OutcomeRedirect, 302, "Redirect (302) — redirects count as failures", "URL to the address the redirect points to"},
		{hookd.OutcomeRedirect, 301, "Redirect (301) — redirects count as failures", "never follows redirects"},
		{hookd.OutcomeHTTPError, 404, "HTTP 404", "accepts POST"},
		{hookd.OutcomeHTTPError, 500, "HTTP 500", "logs"},
		{hookd.OutcomeHTTPError, 410, "HTTP 410", "disabled it"},
		{hookd.OutcomeTLSError, 0, "TLS error", "certificate"},
		{hookd.OutcomeTimeout, 0, "Timed out", "reply 2xx at once"},
		{hookd.OutcomeBlocked, 0, "Blocked address", "--allow-network"},
		{hookd.OutcomeSucceeded, 204, "Delivered (204)", ""},
	}
	for _, c := range cases {
		got := DescribeOutcome(c.o, c.status)
		if got.Label != c.label || !strings.Contains(got.Hint, c.hint) || got.OK != (c.o == hookd.OutcomeSucceeded) {
			t.Errorf("DescribeOutcome(%s, %d) = %+v, want label %q and a hint with %q", c.o, c.status, got, c.label, c.hint)
		}
	}

	// The pages show them, escaped, with the hint on the delivery page.
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	c := e.client(t)
	c.signIn(e.adminKey())
	for _, tc := range cases[:len(cases)-1] {
		d := e.failed(ep, tc.o, tc.status)
		r := c.get("/ui/t/acme/deliveries/" + d.ID)
		c.want(r, http.StatusOK, tc.label, tc.hint)
		list := c.get("/ui/t/acme/deliveries?event=" + url.QueryEscape(d.EventID))
		c.want(list, http.StatusOK, tc.label)
	}
}

func TestDeliveryDetail(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	d := e.deliver(ep, seed{
		outcomes: []hookd.Outcome{hookd.OutcomeHTTPError, hookd.OutcomeTimeout, hookd.OutcomeSucceeded},
		statuses: []int{500, 0, 200},
	})
	c := e.client(t)
	c.signIn(e.adminKey())
	r := c.get("/ui/t/acme/deliveries/" + d.ID)
	c.want(r, http.StatusOK,
		`id="attempt-1"`, `id="attempt-2"`, `id="attempt-3"`,
		"HTTP 500", "Timed out", "Delivered (200)",
		"&lt;h1&gt;no such page&lt;/h1&gt;", // the response excerpt, escaped
		"Webhook-Id", d.EventID,
		"&#34;currency&#34;: &#34;EUR&#34;", // the event data, indented
		"120 ms",
	)
	if strings.Contains(r.body, "s3cr3t-token") {
		t.Fatal("a credential header is shown")
	}
	if strings.Contains(r.body, "<h1>no such page") {
		t.Fatal("the response excerpt is not escaped")
	}
	if r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("headers %v", r.header)
	}
	if strings.Contains(r.body, `http-equiv="refresh"`) {
		t.Error("a finished delivery refreshes itself")
	}
	// A due pending delivery refreshes until its attempt lands.
	c.post("/ui/t/acme/deliveries/"+d.ID+"/retry", nil)
	r = c.get("/ui/t/acme/deliveries/" + d.ID + "?done=retried")
	c.want(r, http.StatusOK, `http-equiv="refresh"`, "Redelivery queued")
}

func TestDeliveriesList(t *testing.T) {
	e := newEnv(t)
	ep1 := e.endpoint("acme", "https://one.example/hooks")
	ep2 := e.endpoint("acme", "https://two.example/hooks")
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var failed []*hookd.Delivery
	for i := range 120 {
		typ := "order.created"
		if i%3 == 0 {
			typ = "invoice.paid"
		}
		failed = append(failed, e.deliver(ep1, seed{typ: typ, at: base.Add(time.Duration(i) * time.Second), outcomes: []hookd.Outcome{hookd.OutcomeHTTPError}, statuses: []int{500}}))
	}
	ok := e.deliver(ep2, seed{at: base.Add(10 * time.Minute), outcomes: []hookd.Outcome{hookd.OutcomeSucceeded}})
	c := e.client(t)
	c.signIn(e.adminKey())

	idRe := regexp.MustCompile(`/ui/t/acme/deliveries/(dlv_[0-9A-Z]+)"`)
	ids := func(r *resp) []string {
		var out []string
		for _, m := range idRe.FindAllStringSubmatch(r.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	pagerRe := regexp.MustCompile(`<a href="(\?[^"]*)" rel="(next|prev)">`)
	link := func(r *resp, rel string) string {
		for _, m := range pagerRe.FindAllStringSubmatch(r.body, -1) {
			if m[2] == rel {
				return strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		return ""
	}

	// Failed first: the default view is the failed ones, newest first.
	r := c.get("/ui/t/acme/deliveries")
	c.want(r, http.StatusOK, `value="failed" checked`)
	p1 := ids(r)
	if len(p1) != hookd.DefaultLimit || p1[0] != failed[119].ID {
		t.Fatalf("first page: %d rows starting %v", len(p1), p1[:1])
	}
	if strings.Contains(r.body, ok.ID) {
		t.Fatal("a succeeded delivery in the failed view")
	}
	if link(r, "prev") != "" {
		t.Fatal("a previous link on the first page")
	}
	// Keyset pages forward and back.
	r2 := c.get("/ui/t/acme/deliveries" + link(r, "next"))
	p2 := ids(r2)
	r3 := c.get("/ui/t/acme/deliveries" + link(r2, "next"))
	p3 := ids(r3)
	if len(p2) != 50 || len(p3) != 20 || link(r3, "next") != "" {
		t.Fatalf("pages of %d, %d, %d (next on last: %q)", len(p1), len(p2), len(p3), link(r3, "next"))
	}
	if p3[19] != failed[0].ID {
		t.Fatalf("the last page ends with %s, want the oldest", p3[19])
	}
	back := ids(c.get("/ui/t/acme/deliveries" + link(r3, "prev")))
	if strings.Join(back, ",") != strings.Join(p2, ",") {
		t.Fatal("previous from page 3 is not page 2")
	}
	back = ids(c.get("/ui/t/acme/deliveries" + link(r2, "prev")))
	if strings.Join(back, ",") != strings.Join(p1, ",") {
		t.Fatal("previous from page 2 is not page 1")
	}

	// Filters.
	count := func(q string) int {
		t.Helper()
		r := c.get("/ui/t/acme/deliveries?" + q)
		c.want(r, http.StatusOK)
		n := len(ids(r))
		for next := link(r, "next"); next != ""; next = link(r, "next") {
			r = c.get("/ui/t/acme/deliveries" + next)
			n += len(ids(r))
		}
		return n
	}
	for q, want := range map[string]int{
		"status=all":                    121,
		"status=succeeded":              1,
		"status=pending":                0,
		"status=all&endpoint=" + ep2.ID: 1,
		"type=invoice.paid":             40,
		"event=" + failed[7].EventID:    1,
		"since=" + url.QueryEscape(base.Add(100*time.Second).Format("2006-01-02T15:04:05")): 20,
		"until=" + url.QueryEscape(base.Add(10*time.Second).Format("2006-01-02T15:04:05")):  10,
		"status=all&since=" + url.QueryEscape(base.Add(5*time.Minute).Format(time.RFC3339)): 1,
	} {
		if got := count(q); got != want {
			t.Errorf("?%s: %d deliveries, want %d", q, got, want)
		}
	}

	// Bad filters: a clear 400 naming the field, never a 500.
	for q, msg := range map[string]string{
		"status=lost":                                   "status",
		"since=yesterday":                               "from",
		"type=" + url.QueryEscape("bad type!"):          "event type",
		"cursor=garbage":                                "cursor",
		"since=2030-01-02T00:00&until=2030-01-01T00:00": "must be after from",
	} {
		r := c.get("/ui/t/acme/deliveries?" + q)
		c.want(r, http.StatusBadRequest, msg)
	}
}

func TestEndpointPages(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	quiet := e.endpoint("acme", "https://quiet.example/hooks")
	for range 3 {
		e.deliver(ep, seed{outcomes: []hookd.Outcome{hookd.OutcomeSucceeded}})
	}
	e.failed(ep, hookd.OutcomeRedirect, 302)
	e.deliver(ep, seed{outcomes: []hookd.Outcome{hookd.OutcomeTimeout}, state: hookd.StatePending})
	c := e.client(t)
	c.signIn(e.adminKey())

	r := c.get("/ui/t/acme/endpoints")
	// 3 of 5 attempts succeeded; the last failure is the timeout; one pending.
	c.want(r, http.StatusOK, ep.URL, quiet.URL, "60%", "of last 5", "Timed out", "no attempts yet")
	r = c.get("/ui/t/acme/endpoints/" + ep.ID)
	c.want(r, http.StatusOK, "60% of the last 5 attempts", "Pending deliveries</dt><dd>1", "reply 2xx at once")

	t.Run("DisableEnable", func(t *testing.T) {
		defer e.use(t)()
		defer c.use(t)()
		r := c.post("/ui/t/acme/endpoints/"+ep.ID+"/disable", nil)
		if r.status != http.StatusSeeOther {
			t.Fatalf("disable: %d", r.status)
		}
		got, _ := e.store.EndpointGet(e.ctx, "acme", ep.ID)
		if got.Enabled {
			t.Fatal("still enabled")
		}
		c.want(c.get(r.loc), http.StatusOK, "Endpoint disabled", "Enable endpoint")
		c.post("/ui/t/acme/endpoints/"+ep.ID+"/enable", nil)
		if got, _ := e.store.EndpointGet(e.ctx, "acme", ep.ID); !got.Enabled {
			t.Fatal("not enabled again")
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		defer e.use(t)()
		defer c.use(t)()
		before, _ := e.store.EndpointGet(e.ctx, "acme", ep.ID)
		c.get("/ui/t/acme/endpoints/" + ep.ID)
		r := c.post("/ui/t/acme/endpoints/"+ep.ID+"/rotate", nil)
		c.want(r, http.StatusOK, "New signing secret", "not shown again")
		after, _ := e.store.EndpointGet(e.ctx, "acme", ep.ID)
		if len(after.Secrets) != 2 || after.Secrets[1].Value != before.Secrets[0].Value {
			t.Fatalf("secrets after rotation: %d, old one kept: %v", len(after.Secrets), len(after.Secrets) > 1 && after.Secrets[1].Value == before.Secrets[0].Value)
		}
		if !after.Secrets[0].ExpiresAt.IsZero() || !hookd.ValidSecret(after.Secrets[0].Value) {
			t.Fatalf("new secret %+v", after.Secrets[0])
		}
		if d := time.Until(after.Secrets[1].ExpiresAt); d < SecretGrace-time.Minute || d > SecretGrace+time.Minute {
			t.Fatalf("old secret expires in %v, want 24h", d)
		}
		m := regexp.MustCompile(`id="secret"[^>]* value="([^"]+)"`).FindStringSubmatch(r.body)
		if m == nil || html.UnescapeString(m[1]) != after.Secrets[0].Value {
			t.Fatalf("the new secret is not shown: %v", m)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatal("the secret page may be cached")
		}
		// Shown once: nowhere else.
		if strings.Contains(html.UnescapeString(c.get("/ui/t/acme/endpoints/"+ep.ID).body), after.Secrets[0].Value) {
			t.Fatal("the secret is shown again")
		}
	})
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	other := e.endpoint("acme", "https://other.example/hooks")
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	var in []*hookd.Delivery
	for i := range 3 {
		in = append(in, e.deliver(ep, seed{at: base.Add(time.Duration(10+i) * time.Minute), outcomes: []hookd.Outcome{hookd.OutcomeHTTPError}, statuses: []int{500}}))
	}
	before := e.deliver(ep, seed{at: base, outcomes: []hookd.Outcome{hookd.OutcomeHTTPError}, statuses: []int{500}})
	succeeded := e.deliver(ep, seed{at: base.Add(15 * time.Minute), outcomes: []hookd.Outcome{hookd.OutcomeSucceeded}})
	otherEp := e.failed(other, hookd.OutcomeHTTPError, 500)
	c := e.client(t)
	c.signIn(e.adminKey())
	c.get("/ui/t/acme/endpoints/" + ep.ID)
	form := url.Values{"since": {formatFormTime(base.Add(5 * time.Minute))}, "until": {formatFormTime(base.Add(time.Hour))}}
	replay := "/ui/t/acme/endpoints/" + ep.ID + "/replay"

	r := c.post(replay, form)
	c.want(r, http.StatusOK, `<strong id="replay-count">3</strong>`, "Redeliver 3")
	for _, d := range in {
		if e.delivery("acme", d.ID).State != hookd.StateFailed {
			t.Fatal("counting changed a delivery")
		}
	}
	form.Set("confirm", "yes")
	r = c.post(replay, form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d\n%s", r.status, r.body)
	}
	c.want(c.get(r.loc), http.StatusOK, "Replay queued for 3 failed deliveries")
	for _, d := range in {
		if got := e.delivery("acme", d.ID).State; got != hookd.StatePending {
			t.Errorf("replayed delivery is %s, want pending", got)
		}
	}
	for _, d := range []*hookd.Delivery{before, otherEp} {
		if got := e.delivery("acme", d.ID).State; got != hookd.StateFailed {
			t.Errorf("a delivery outside the replay is %s", got)
		}
	}
	if got := e.delivery("acme", succeeded.ID).State; got != hookd.StateSucceeded {
		t.Errorf("a succeeded delivery was replayed: %s", got)
	}

	// Beyond the bound, nothing is replayed and the page says why.
	e.ui.replayMax = 2
	for i := range 3 {
		e.deliver(ep, seed{at: base.Add(time.Duration(20+i) * time.Minute), outcomes: []hookd.Outcome{hookd.OutcomeTimeout}})
	}
	c.get("/ui/t/acme/endpoints/" + ep.ID)
	c.want(c.post(replay, form), http.StatusUnprocessableEntity, "More than 2 failed deliveries")
	if n := count(t, e, ep, hookd.StateFailed); n != 4 { // 3 new, and the one before the range
		t.Fatalf("%d failed after a refused replay, want 4", n)
	}
	e.ui.replayMax = ReplayMax

	// Bad ranges are a 400 with a message.
	for _, f := range []url.Values{
		{"since": {"nope"}, "until": {formatFormTime(base)}},
		{"since": {formatFormTime(base)}},
		{"since": {formatFormTime(base)}, "until": {formatFormTime(base.Add(-time.Hour))}},
	} {
		c.want(c.post(replay, f), http.StatusBadRequest)
	}
}

// count counts ep's deliveries in state.
func count(t *testing.T, e *env, ep *hookd.Endpoint, state hookd.DeliveryState) int {
	t.Helper()
	ds, _, err := e.store.DeliveryList(e.ctx, hookd.DeliveryListParams{ListParams: hookd.ListParams{Limit: hookd.MaxLimit}, Tenant: ep.Tenant, EndpointID: ep.ID, State: state})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

func TestPendingCap(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("acme", "https://acme.example/hooks")
	// More pending deliveries than the list page counts: it says "100+"
	// rather than counting them all.
	var ins []hookd.EventInsert
	now := time.Now().UTC()
	for i := range listPendingCap + 1 {
		ev := &hookd.Event{ID: fmt.Sprintf("evt_p%d", i), Tenant: "acme", Type: "order.created", Data: []byte(`{}`), OccurredAt: now, CreatedAt: now}
		ins = append(ins, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{{
			ID: hookd.NewID(hookd.PrefixDelivery), Tenant: "acme", EventID: ev.ID, EventType: ev.Type, EndpointID: ep.ID,
			State: hookd.StatePending, NextAttemptAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		}}})
	}
	if _, err := e.store.EventInsertMany(e.ctx, ins); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.signIn(e.adminKey())
	c.want(c.get("/ui/t/acme/endpoints"), http.StatusOK, `<td class="num">100+</td>`)
	c.want(c.get("/ui/t/acme/endpoints/"+ep.ID), http.StatusOK, "Pending deliveries</dt><dd>101</dd>")
}

// A mount that strips the prefix still reaches the pages.
func TestStrippedMount(t *testing.T) {
	e := newEnv(t)
	h := http.StripPrefix("/ui", e.ui)
	for path, want := range map[string]int{"/ui/login": http.StatusOK, "/ui/static/style.css": http.StatusOK, "/ui/": http.StatusSeeOther} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want {
			t.Errorf("GET %s through StripPrefix: %d, want %d", path, w.Code, want)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.signIn(e.adminKey())
	c.want(c.get("/ui/nosuch"), http.StatusNotFound, "Page not found")
	c.want(c.get("/ui/t/acme/deliveries/dlv_nosuch"), http.StatusNotFound)
	// A form action is no page: GET does nothing.
	c.want(c.get("/ui/t/acme/deliveries/dlv_x/retry"), http.StatusNotFound)
	r := c.get("/ui/static/style.css")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
}
