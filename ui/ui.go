package ui

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the dashboard.
type Config struct {
	Store  hookd.Store
	Engine hookd.Engine
	Logger *slog.Logger // nil: slog.Default()

	// SigningKey signs session cookies, CSRF tokens and portal links; give
	// at least 32 random bytes, the same on every node sharing a database
	// and across restarts, or sessions and portal links stop working when
	// it changes. Empty: a random key for this process only.
	SigningKey []byte

	// BasePath is where the handler is mounted, with leading and trailing
	// slash; "" means "/ui/". Mount the handler there without stripping
	// the prefix: mux.Handle(cfg.BasePath, u).
	BasePath string

	// Now is the clock; nil means time.Now. Tests set it to expire links.
	Now func() time.Time
}

// UI is the dashboard, an http.Handler.
type UI struct {
	store  hookd.Store
	engine hookd.Engine
	log    *slog.Logger
	keys   keys
	base   string
	now    func() time.Time
	mux    *http.ServeMux
	pages  map[string]*template.Template
	cop    *http.CrossOriginProtection
	static http.Handler

	replayMax int // ReplayMax; tests lower it
}

// Portal link lifetimes.
const (
	DefaultPortalTTL = 15 * time.Minute
	MaxPortalTTL     = 24 * time.Hour
)

// New returns the dashboard.
func New(cfg Config) (*UI, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("ui: Config.Store and Config.Engine are required")
	}
	u := &UI{
		store:  cfg.Store,
		engine: cfg.Engine,
		log:    cfg.Logger,
		base:   cfg.BasePath,
		now:    cfg.Now,
		cop:    http.NewCrossOriginProtection(),

		replayMax: ReplayMax,
	}
	if u.log == nil {
		u.log = slog.Default()
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.base == "" {
		u.base = "/ui/"
	}
	if !strings.HasPrefix(u.base, "/") || !strings.HasSuffix(u.base, "/") {
		return nil, errors.New(`ui: Config.BasePath must start and end with "/"`)
	}
	secret := cfg.SigningKey
	switch {
	case len(secret) == 0:
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		u.log.Warn("ui: no signing key configured; sessions and portal links last only as long as this process")
	case len(secret) < 16:
		return nil, errors.New("ui: Config.SigningKey must be at least 16 bytes")
	}
	u.keys = deriveKeys(secret)
	if err := u.parseTemplates(); err != nil {
		return nil, err
	}
	sub, _ := fs.Sub(staticFS, "static")
	u.static = http.StripPrefix(u.base+"static/", http.FileServerFS(sub))
	u.routes()
	return u, nil
}

// PortalLink returns a signed URL that opens the dashboard restricted to
// tenant, valid for ttl (DefaultPortalTTL when ttl ≤ 0, at most
// MaxPortalTTL), and when it expires. base is the scheme and host the
// browser reaches hookd at ("https://hooks.example.com"); "" gives a
// path-only URL. The caller has checked that tenant is a valid tenant ID
// the requester may see.
func (u *UI) PortalLink(tenant string, ttl time.Duration, base string) (link string, expires time.Time) {
	if ttl <= 0 {
		ttl = DefaultPortalTTL
	}
	ttl = min(ttl, MaxPortalTTL)
	expires = u.now().Add(ttl).Truncate(time.Second)
	exp := expires.Unix()
	q := url.Values{"t": {tenant}, "exp": {itoa(exp)}, "sig": {u.keys.portalSig(tenant, exp)}}
	return strings.TrimRight(base, "/") + u.base + "portal?" + q.Encode(), expires
}

// ServeHTTP serves the dashboard.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Tolerate a mount that stripped the prefix after all.
	if !strings.HasPrefix(r.URL.Path, u.base) && r.URL.Path+"/" != u.base {
		r2 := new(http.Request)
		*r2 = *r
		u2 := *r.URL
		u2.Path = u.base + strings.TrimPrefix(r.URL.Path, "/")
		u2.RawPath = ""
		r2.URL = &u2
		r = r2
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // portal links carry a signature in the query
	h.Set("X-Frame-Options", "DENY")
	u.mux.ServeHTTP(w, r)
}

// render writes a page after executing its template into a buffer, so a
// template error is a clean 500, never half a page.
func (u *UI) render(w http.ResponseWriter, status int, name string, p *page) {
	t := u.pages[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		u.log.Error("ui: rendering page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // pages hold private data and secrets
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
