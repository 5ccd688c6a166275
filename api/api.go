package api

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
}

// Server is the API as an http.Handler.
type Server struct {
	store    hookd.Store
	engine   hookd.Engine
	log      *slog.Logger
	maxBody  int64
	maxBatch int64
	now      func() time.Time
	mux      *http.ServeMux
	notReady atomic.Bool
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
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetReady sets what /readyz answers: a server starts ready, and serve
// calls SetReady(false) when it begins shutting down, so load balancers
// stop sending it new requests while in-flight ones finish.
func (s *Server) SetReady(ready bool) { s.notReady.Store(!ready) }
