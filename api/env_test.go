package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// env is a running API on a real SQLite file and the real delivery engine,
// served over a real HTTP server.
type env struct {
	t      testing.TB
	store  hookd.Store
	api    *api.Server
	srv    *httptest.Server
	admin  string               // an admin key bound to no tenant
	clock  *hookdtest.SkewClock // the API's clock (the key cache's TTL)
	reg    *prometheus.Registry
	client *http.Client
}

type envOptions struct {
	maxBody int64
	keyTTL  time.Duration
}

func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := hookdtest.Logger(t, slog.LevelWarn)
	eng := delivery.New(st, delivery.Options{
		Owner:         "api-test",
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:        log,
	})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e := &env{t: t, store: st, clock: &hookdtest.SkewClock{}, reg: prometheus.NewRegistry()}
	e.api = api.New(api.Config{
		Store: st, Engine: eng, Logger: log, Registry: e.reg,
		MaxBody: o.maxBody, KeyCacheTTL: o.keyTTL, Now: e.clock.Now,
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.admin = e.insertKey("", hookd.ScopeAdmin)
	return e
}

// insertKey stores a key directly, as `hookd serve` does with the first
// admin key.
func (e *env) insertKey(tenant string, scopes ...string) string {
	e.t.Helper()
	return hookdtest.InsertAPIKey(e.t, e.store, tenant, scopes...)
}

// resp is an answer, read whole.
type resp struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte
}

// request describes one call; body is marshalled unless it is a string
// or []byte, sent as is.
type request struct {
	method, path, key string
	body              any
	contentType       string // default application/json when there is a body
}

func (e *env) do(r request) *resp {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			req.Header.Set("Content-Type", ct)
		}
	}
	res, err := e.client.Do(req)
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

func (e *env) get(path, key string) *resp { return e.do(request{method: "GET", path: path, key: key}) }

func (e *env) post(path, key string, body any) *resp {
	return e.do(request{method: "POST", path: path, key: key, body: body})
}

// want fails the test unless the status is st, showing the body.
func (r *resp) want(st int) *resp {
	r.t.Helper()
	if r.status != st {
		r.t.Fatalf("status %d, want %d: %s", r.status, st, r.body)
	}
	return r
}

// into decodes the body into v.
func (r *resp) into(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// problem checks that the answer is a problem document with status st
// and, if fields are given, exactly those invalid fields.
func (r *resp) problem(st int, fields ...string) api.Problem {
	r.t.Helper()
	r.want(st)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		r.t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p api.Problem
	r.into(&p)
	if p.Status != st || p.Title == "" || !strings.HasPrefix(p.Type, api.ProblemTypePrefix) {
		r.t.Fatalf("problem %+v", p)
	}
	if len(fields) > 0 {
		var got []string
		for _, f := range p.Errors {
			got = append(got, f.Field)
		}
		if strings.Join(got, ",") != strings.Join(fields, ",") {
			r.t.Fatalf("fields %v, want %v: %s", got, fields, r.body)
		}
	}
	return p
}

// list is a page of any list route.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// created is a create answer: the endpoint and its secret.
type created struct {
	hookd.Endpoint
	Secret string `json:"secret"`
}

func (e *env) createEndpoint(tenant, key string, body map[string]any) created {
	e.t.Helper()
	var c created
	e.post("/v1/tenants/"+tenant+"/endpoints", key, body).want(201).into(&c)
	return c
}

// published is a publish answer.
type published struct {
	hookd.Event
	DeliveryCount int  `json:"delivery_count"`
	Duplicate     bool `json:"duplicate"`
}

// waitDelivery polls a delivery until cond holds: the outcome is recorded
// by the engine after the receiver answers, and the API is the only way
// to observe it from outside.
func (e *env) waitDelivery(tenant, id string, cond func(hookd.Delivery) bool) hookd.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var d hookd.Delivery
		e.get("/v1/tenants/"+tenant+"/deliveries/"+id, e.admin).want(200).into(&d)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery %s never reached the condition: %+v", id, d)
		}
		time.Sleep(wait)
	}
}
