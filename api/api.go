package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookd/hookd"
)

// DefaultMaxBody is the default limit on a request body: 1 MiB.
const DefaultMaxBody = 1 << 20

// DefaultMaxBatchBody is the default limit on a batch publish body. Each
// event in it is still held to the per-request limit.
const DefaultMaxBatchBody = 8 << 20

// Config is what New needs. Store and Engine are required.
type Config struct {
	Store  hookd.Store
	Engine hookd.Engine
	// Logger receives the causes of 5xx answers; nil means slog.Default().
	Logger *slog.Logger
	// Registry is served at /metrics and receives the API's request
	// metrics; nil means a registry of the API's own.
	Registry *prometheus.Registry
	// MaxBody limits request bodies (DefaultMaxBody when 0).
	MaxBody int64
	// MaxBatchBody limits batch publish bodies (DefaultMaxBatchBody, or
	// MaxBody if larger, when 0).
	MaxBatchBody int64
	// Authenticators are tried, in order, after the built-in API key
	// check, for bearer tokens that are not API keys (OAuth access tokens).
	Authenticators []Authenticator
	// KeyCacheTTL bounds how long a looked-up API key is trusted without
	// asking the store again, and so how long a key deleted on another
	// node keeps working (5s when 0).
	KeyCacheTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OAuth serves /oauth/token and /oauth/revoke (package oauth); nil
	// answers them 404. Its access tokens are accepted only if it is
	// also among Authenticators.
	OAuth OAuth
	// Portal makes the links of POST …/portal-links (*ui.UI); nil
	// answers that route 404.
	Portal Portal
}

// DefaultKeyCacheTTL is how long an API key lookup is cached by default.
const DefaultKeyCacheTTL = 5 * time.Second

// Server is the API as an http.Handler.
type Server struct {
	store    hookd.Store
	engine   hookd.Engine
	log      *slog.Logger
	maxBody  int64
	maxBatch int64
	now      func() time.Time

	keys        *keyAuth
	auth        []Authenticator
	mux         *http.ServeMux
	metrics     *metrics
	unmatched   *routeMetrics
	promHandler http.Handler
	openapi     []byte
	notReady    atomic.Bool

	oauth  OAuth
	portal Portal
}

// New returns the API. It panics if cfg.Store or cfg.Engine is nil, which
// is a wiring bug, not a runtime condition.
func New(cfg Config) *Server {
	if cfg.Store == nil || cfg.Engine == nil {
		panic("api.New: Config.Store and Config.Engine are required")
	}
	s := &Server{
		store:    cfg.Store,
		engine:   cfg.Engine,
		log:      cfg.Logger,
		maxBody:  cfg.MaxBody,
		maxBatch: cfg.MaxBatchBody,
		now:      cfg.Now,
		mux:      http.NewServeMux(),
		oauth:    cfg.OAuth,
		portal:   cfg.Portal,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.maxBatch <= 0 {
		s.maxBatch = max(DefaultMaxBatchBody, s.maxBody)
	}
	if s.now == nil {
		s.now = time.Now
	}
	ttl := cfg.KeyCacheTTL
	if ttl <= 0 {
		ttl = DefaultKeyCacheTTL
	}
	s.keys = newKeyAuth(cfg.Store, ttl, s.now)
	s.auth = append([]Authenticator{s.keys}, cfg.Authenticators...)

	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(reg)
	s.promHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}})
	s.unmatched = s.metrics.route("unmatched")

	for i := range routes {
		rt := &routes[i]
		s.mux.Handle(rt.pattern(), s.handler(rt))
	}
	s.mux.HandleFunc("/", s.fallback)

	doc, err := json.Marshal(openAPI(routes))
	if err != nil {
		panic("api: the OpenAPI document does not marshal: " + err.Error())
	}
	s.openapi = doc
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetReady sets what /readyz answers: a server starts ready, and serve
// calls SetReady(false) when it begins shutting down, so load balancers
// stop sending it new requests while in-flight ones finish.
func (s *Server) SetReady(ready bool) { s.notReady.Store(!ready) }

// handler wraps a route: metrics, credentials, tenant, scope and query
// checks, then the route's own work; errors become problem documents.
func (s *Server) handler(rt *route) http.Handler {
	rm := s.metrics.route(rt.pattern())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inflight.Inc()
		rec := &recorder{ResponseWriter: w}
		c := &call{s: s, w: rec, r: r, rt: rt}
		if err := s.serve(c); err != nil {
			s.fail(rec, c.r, err)
		}
		s.metrics.inflight.Dec()
		rm.observe(rec.status, time.Since(start))
	})
}

func (s *Server) serve(c *call) error {
	rt := c.rt
	if rt.scope != "" {
		p, err := s.authenticate(c.r)
		if err != nil {
			return err
		}
		c.p = p
		c.r = c.r.WithContext(context.WithValue(c.r.Context(), principalKey{}, p))
		if strings.Contains(rt.path, "{tenant}") {
			t := c.r.PathValue("tenant")
			if !hookd.ValidTenantID(t) {
				return hookd.Invalid("tenant", "must match [A-Za-z0-9_.-]{1,64}")
			}
			// Before the scope check: a key of another tenant must not
			// learn even that it lacks a scope here.
			if !p.Sees(t) {
				return hookd.NotFound("tenant " + t)
			}
			c.tenant = t
		}
		if rt.global && p.Tenant != "" {
			return hookd.Errorf(hookd.EFORBIDDEN, "this route needs a credential bound to no tenant")
		}
		if !p.Can(rt.scope) {
			return hookd.Errorf(hookd.EFORBIDDEN, "this route needs the %s scope", rt.scope)
		}
	}
	if rt.scope != "" {
		// Public routes (probes, metrics) ignore query strings: a probe
		// that adds one must not start failing.
		q, err := parseQuery(c.r.URL.RawQuery, rt.query)
		if err != nil {
			return err
		}
		c.q = q
	}
	return rt.serve(c)
}

// fail answers err as a problem document, unless the handler already
// began its answer, and logs what callers are not told.
func (s *Server) fail(rec *recorder, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		switch {
		case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
			// The client went away; nobody reads the answer.
		case p.Status == http.StatusServiceUnavailable:
			s.log.Warn("api: unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		default:
			s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if rec.status != 0 {
		s.log.Error("api: error after the answer began", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	if p.Status == http.StatusUnauthorized {
		rec.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
	}
	writeProblem(rec, p)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	buf := getBuf()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p) // a Problem always marshals
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

// methods are the methods some route answers, in the order Allow lists them.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// fallback answers what no route matches: 405 with Allow when the path
// exists under other methods, 404 otherwise, both as problem documents
// (http.ServeMux would answer in plain text).
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	var allow []string
	for _, m := range methods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		rec.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(rec, r, hookd.Errorf(hookd.EMETHOD, "%s is not allowed here; use %s", truncate(r.Method, 16), strings.Join(allow, ", ")))
	} else {
		s.fail(rec, r, hookd.Errorf(hookd.ENOTFOUND, "no such route: %s %s", truncate(r.Method, 16), truncate(r.URL.Path, 200)))
	}
	s.unmatched.observe(rec.status, time.Since(start))
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Error("metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
