package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// testKey is the signing key of every test UI.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// env is a dashboard on a real SQLite file behind a real HTTP server.
type env struct {
	t     *testing.T
	ctx   context.Context
	store hookd.Store
	eng   hookd.Engine
	ui    *UI
	srv   *httptest.Server
	clock *hookdtest.SkewClock // the UI's; tests move it to expire sessions and links
	seq   atomic.Int64
}

type envOptions struct {
	tls    bool
	engine func(t *testing.T, s hookd.Store) hookd.Engine
}

func newEnv(t *testing.T, opts ...func(*envOptions)) *env {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, ctx: ctx, store: s, clock: &hookdtest.SkewClock{}}
	if o.engine != nil {
		e.eng = o.engine(t, s)
	} else {
		e.eng = storeEngine{s}
	}
	e.ui, err = New(Config{Store: s, Engine: e.eng, SigningKey: testKey, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", e.ui)
	if o.tls {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// storeEngine is the part of hookd.Engine the dashboard uses, done by the
// store alone: Retry makes the delivery due, which is what the delivery
// engine does before it dispatches. Handler tests use it so that no
// background sender changes the states they assert on; the browser test
// runs the real engine.
type storeEngine struct{ s hookd.Store }

func (e storeEngine) Publish(context.Context, string, []hookd.EventInput) ([]hookd.PublishResult, error) {
	return nil, hookd.Errorf(hookd.EINTERNAL, "not in handler tests")
}
func (e storeEngine) Ping(context.Context, *hookd.Endpoint) (*hookd.Attempt, error) {
	return nil, hookd.Errorf(hookd.EINTERNAL, "not in handler tests")
}
func (e storeEngine) Retry(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	return e.s.DeliveryRetry(ctx, tenant, id, time.Now())
}
func (e storeEngine) CheckExpressions(*hookd.Endpoint) error { return nil }
func (e storeEngine) EndpointChanged(string)                 {}

// use makes the env's helpers fail t (a subtest) until the returned
// func restores the parent.
func (e *env) use(t *testing.T) func() {
	old := e.t
	e.t = t
	return func() { e.t = old }
}

// key stores an API key with scopes, restricted to tenant unless "".
func (e *env) key(tenant string, scopes ...string) string {
	e.t.Helper()
	return hookdtest.InsertAPIKey(e.t, e.store, tenant, scopes...)
}

func (e *env) adminKey() string { return e.key("", hookd.ScopeAdmin) }

// endpoint stores an enabled endpoint of tenant, changed by opts.
func (e *env) endpoint(tenant, rawURL string, opts ...func(*hookd.Endpoint)) *hookd.Endpoint {
	e.t.Helper()
	now := time.Now().UTC()
	ep := &hookd.Endpoint{
		ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: tenant, URL: rawURL, Enabled: true,
		CreatedAt: now, UpdatedAt: now, Secrets: []hookd.Secret{{Value: hookd.NewSecret()}},
	}
	for _, o := range opts {
		o(ep)
	}
	ep.Normalize()
	ep.MaxInFlight = hookd.MaxMaxInFlight // seeding claims many at once
	if err := e.store.EndpointInsert(e.ctx, ep); err != nil {
		e.t.Fatalf("EndpointInsert: %v", err)
	}
	return ep
}

// seed is one delivery to store with its attempts.
type seed struct {
	typ      string
	at       time.Time // created; zero: now
	outcomes []hookd.Outcome
	statuses []int
	state    hookd.DeliveryState // after the attempts; zero: failed unless the last succeeded
}

// deliver stores an event for ep and its delivery with the given attempts,
// leased at insert so that no engine picks it up.
func (e *env) deliver(ep *hookd.Endpoint, sd seed) *hookd.Delivery {
	e.t.Helper()
	n := e.seq.Add(1)
	at := sd.at
	if at.IsZero() {
		at = time.Now().UTC()
	}
	typ := sd.typ
	if typ == "" {
		typ = "order.created"
	}
	ev := &hookd.Event{
		ID: fmt.Sprintf("evt_seed_%d", n), Tenant: ep.Tenant, Type: typ,
		Data:       json.RawMessage(fmt.Sprintf(`{"order":%d,"amount":1999,"currency":"EUR"}`, n)),
		OccurredAt: at, CreatedAt: at,
	}
	d := &hookd.Delivery{
		ID: hookd.NewID(hookd.PrefixDelivery), Tenant: ep.Tenant, EventID: ev.ID, EventType: typ,
		EndpointID: ep.ID, State: hookd.StatePending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
		LeaseOwner: "seed", LeaseUntil: at.Add(time.Hour),
	}
	if _, err := e.store.EventInsertMany(e.ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{d}}}); err != nil {
		e.t.Fatalf("EventInsertMany: %v", err)
	}
	var prev string
	for i, o := range sd.outcomes {
		a := &hookd.Attempt{
			ID: hookd.NewID(hookd.PrefixAttempt), Tenant: ep.Tenant, DeliveryID: d.ID, EndpointID: ep.ID,
			EventID: ev.ID, Number: i + 1, StartedAt: at.Add(time.Duration(i) * time.Second), Duration: 120,
			Outcome: o, RetryOf: prev,
			RequestHeaders: map[string]string{"Webhook-Id": ev.ID, "Authorization": "Bearer s3cr3t-token", "Content-Type": "application/json"},
		}
		prev = a.ID
		if i < len(sd.statuses) {
			a.StatusCode = sd.statuses[i]
		}
		switch o {
		case hookd.OutcomeSucceeded:
			if a.StatusCode == 0 {
				a.StatusCode = 200
			}
			a.Response = `{"ok":true}`
		case hookd.OutcomeHTTPError:
			a.Response = "<h1>no such page</h1>"
		case hookd.OutcomeRedirect:
		default:
			a.Error = "dial tcp 10.0.0.1:443: " + string(o)
		}
		rec := hookd.AttemptRecord{Attempt: a, LeaseOwner: "seed", State: hookd.StatePending, NextAttemptAt: at.Add(time.Hour)}
		last := i == len(sd.outcomes)-1
		if last {
			switch {
			case sd.state != "":
				rec.State = sd.state
			case o == hookd.OutcomeSucceeded:
				rec.State = hookd.StateSucceeded
			default:
				rec.State = hookd.StateFailed
			}
			if rec.State != hookd.StatePending {
				rec.NextAttemptAt = time.Time{}
			}
		}
		a.NextAttemptAt = rec.NextAttemptAt
		if err := e.store.AttemptRecordMany(e.ctx, []hookd.AttemptRecord{rec}); err != nil {
			e.t.Fatalf("AttemptRecordMany: %v", err)
		}
		if !last {
			// The next attempt needs the lease back, as a claim would give it.
			if _, err := e.store.DeliveryClaimMany(e.ctx, hookd.DeliveryClaimParams{
				Owner: "seed", Now: at.Add(2 * time.Hour), LeaseUntil: at.Add(3 * time.Hour), Max: 1000, EndpointID: ep.ID,
			}); err != nil {
				e.t.Fatalf("DeliveryClaimMany: %v", err)
			}
		}
	}
	got, err := e.store.DeliveryGet(e.ctx, ep.Tenant, d.ID)
	if err != nil {
		e.t.Fatalf("DeliveryGet: %v", err)
	}
	return got
}

func (e *env) failed(ep *hookd.Endpoint, o hookd.Outcome, status int) *hookd.Delivery {
	e.t.Helper()
	return e.deliver(ep, seed{outcomes: []hookd.Outcome{o}, statuses: []int{status}})
}

// client is a browser without JavaScript: a cookie jar, no automatic
// redirects, and the CSRF token of the last page it saw.
type client struct {
	t    *testing.T
	e    *env
	hc   *http.Client
	csrf string
}

type resp struct {
	status int
	body   string
	loc    string
	header http.Header
}

// client returns a new browser, failing t on errors.
func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	hc := *e.srv.Client() // a copy: each browser has its own cookies
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, e: e, hc: &hc}
}

// use makes the client fail t (a subtest) until the returned func
// restores the parent.
func (c *client) use(t *testing.T) func() {
	old := c.t
	c.t = t
	return func() { c.t = old }
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (c *client) do(req *http.Request) *resp {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading %s: %v", req.URL, err)
	}
	r := &resp{status: res.StatusCode, body: string(b), loc: res.Header.Get("Location"), header: res.Header}
	if m := csrfRe.FindStringSubmatch(r.body); m != nil {
		c.csrf = m[1]
	}
	return r
}

func (c *client) get(path string) *resp {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	return c.do(req)
}

// post sends a form, with the last page's CSRF token unless form has one.
func (c *client) post(path string, form url.Values, hdr ...string) *resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

// signIn signs in with key and fails the test unless it works.
func (c *client) signIn(key string) {
	c.t.Helper()
	if r := c.get("/ui/login"); r.status != http.StatusOK {
		c.t.Fatalf("GET /ui/login: %d", r.status)
	}
	r := c.post("/ui/login", url.Values{"key": {key}})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("sign in: status %d, want 303\n%s", r.status, r.body)
	}
}

func (c *client) want(r *resp, status int, contains ...string) {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			c.t.Fatalf("page lacks %q:\n%s", s, r.body)
		}
	}
}

func (e *env) delivery(tenant, id string) *hookd.Delivery {
	e.t.Helper()
	d, err := e.store.DeliveryGet(e.ctx, tenant, id)
	if err != nil {
		e.t.Fatalf("DeliveryGet: %v", err)
	}
	return d
}
