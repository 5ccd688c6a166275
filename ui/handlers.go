package ui

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// page is what every template receives.
type page struct {
	Title   string
	Base    string
	CSRF    string
	S       *session
	Tenant  string // the tenant being browsed, for the navigation
	Nav     string // the active navigation item
	Flash   string
	Error   string
	Hint    string
	Refresh int // seconds; a meta refresh while something is about to change
	// RefreshURL moves the browser on at once, without a redirect.
	RefreshURL string
	Data       any
}

// Limits on form input. Forms are small; anything larger is not ours.
const (
	maxFormBytes = 16 << 10
	maxIDLength  = 255
)

func (u *UI) routes() {
	m := http.NewServeMux()
	b := u.base
	m.Handle("GET "+b+"static/", u.static)
	m.HandleFunc("GET "+b+"{$}", u.handleHome)
	m.HandleFunc("GET "+b+"login", u.handleLoginPage)
	m.HandleFunc("POST "+b+"login", u.handleLogin)
	m.HandleFunc("POST "+b+"logout", u.handleLogout)
	m.HandleFunc("GET "+b+"portal", u.handlePortal)
	m.HandleFunc("GET "+b+"t/{tenant}/{$}", u.tenantPage("", u.handleTenant))
	m.HandleFunc("GET "+b+"t/{tenant}/endpoints", u.tenantPage(hookd.ScopeEndpointsRead, u.handleEndpoints))
	m.HandleFunc("GET "+b+"t/{tenant}/endpoints/{id}", u.tenantPage(hookd.ScopeEndpointsRead, u.handleEndpoint))
	m.HandleFunc("POST "+b+"t/{tenant}/endpoints/{id}/enable", u.tenantPage(hookd.ScopeEndpointsWrite, u.handleEnable(true)))
	m.HandleFunc("POST "+b+"t/{tenant}/endpoints/{id}/disable", u.tenantPage(hookd.ScopeEndpointsWrite, u.handleEnable(false)))
	m.HandleFunc("POST "+b+"t/{tenant}/endpoints/{id}/rotate", u.tenantPage(hookd.ScopeEndpointsWrite, u.handleRotate))
	m.HandleFunc("POST "+b+"t/{tenant}/endpoints/{id}/replay", u.tenantPage(hookd.ScopeDeliveriesWrite, u.handleReplay))
	m.HandleFunc("GET "+b+"t/{tenant}/deliveries", u.tenantPage(hookd.ScopeDeliveriesRead, u.handleDeliveries))
	m.HandleFunc("GET "+b+"t/{tenant}/deliveries/{id}", u.tenantPage(hookd.ScopeDeliveriesRead, u.handleDelivery))
	m.HandleFunc("POST "+b+"t/{tenant}/deliveries/{id}/retry", u.tenantPage(hookd.ScopeDeliveriesWrite, u.handleRetry))
	m.HandleFunc(b, func(w http.ResponseWriter, r *http.Request) {
		s, _ := u.session(r)
		u.errorPage(w, r, s, http.StatusNotFound, "Page not found", "")
	})
	u.mux = m
}

// newPage fills what every page needs.
func (u *UI) newPage(s *session, title string) *page {
	p := &page{Title: title, Base: u.base, S: s}
	if s != nil {
		p.CSRF = u.keys.csrfToken(s.SID)
	}
	return p
}

// link builds a path under the base from escaped segments.
func (u *UI) link(segs ...string) string {
	var b strings.Builder
	b.WriteString(u.base)
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg, hint string) {
	p := u.newPage(s, http.StatusText(status))
	p.Error, p.Hint = msg, hint
	if s != nil {
		if t := r.PathValue("tenant"); t != "" && s.Sees(t) && hookd.ValidTenantID(t) {
			p.Tenant = t
		}
	}
	p.Data = status
	u.render(w, status, "error", p)
}

// fail turns an error from the store or engine into a page: the code maps
// to the status in one place, and only 4xx messages reach the visitor.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the visitor left
	}
	var status int
	switch hookd.ErrorCode(err) {
	case hookd.ENOTFOUND:
		u.errorPage(w, r, s, http.StatusNotFound, "Not found", "It may have been removed by retention, or it belongs to another tenant.")
		return
	case hookd.EINVALID, hookd.EMALFORMED:
		status = http.StatusBadRequest
	case hookd.ECONFLICT:
		status = http.StatusConflict
	case hookd.EFORBIDDEN:
		status = http.StatusForbidden
	case hookd.EUNAVAILABLE:
		u.log.Warn("ui: store unavailable", "path", r.URL.Path, "err", err)
		u.errorPage(w, r, s, http.StatusServiceUnavailable, "hookd is unavailable right now", "Try again in a moment.")
		return
	default:
		u.log.Error("ui: request failed", "path", r.URL.Path, "err", err)
		u.errorPage(w, r, s, http.StatusInternalServerError, "Something went wrong on our side", "The error has been logged.")
		return
	}
	msg := err.Error()
	var he *hookd.Error
	if errors.As(err, &he) && he.Message != "" {
		msg = he.Message
	}
	u.errorPage(w, r, s, status, msg, "")
}

func (u *UI) redirectToLogin(w http.ResponseWriter, r *http.Request) {
	next := ""
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	target := u.base + "login"
	if next != "" && next != u.base {
		target += "?" + url.Values{"next": {next}}.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// tenantHandler serves one page of a tenant the session may see.
type tenantHandler func(w http.ResponseWriter, r *http.Request, s *session, tenant string) error

// tenantPage checks, in this order: a session; the tenant is one the
// session sees (404 otherwise, as the API does, so a tenant key cannot
// learn which tenants exist); the scope; and for POSTs the origin and the
// CSRF token.
func (u *UI) tenantPage(scope string, h tenantHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := u.session(r)
		if err != nil {
			u.fail(w, r, nil, err)
			return
		}
		if s == nil {
			u.redirectToLogin(w, r)
			return
		}
		tenant := r.PathValue("tenant")
		if !hookd.ValidTenantID(tenant) || !s.Sees(tenant) {
			u.errorPage(w, r, s, http.StatusNotFound, "Not found", "")
			return
		}
		if scope != "" && !s.Can(scope) {
			u.errorPage(w, r, s, http.StatusForbidden, "This key lacks the "+scope+" scope", "Sign in with a key that has it.")
			return
		}
		if r.Method == http.MethodPost && !u.checkForm(w, r, s.SID) {
			u.errorPage(w, r, s, http.StatusForbidden, "The form could not be verified", "It may be stale or come from another site: reload the page and try again.")
			return
		}
		if err := h(w, r, s, tenant); err != nil {
			u.fail(w, r, s, err)
		}
	}
}

// checkForm refuses cross-origin POSTs and POSTs whose CSRF token does not
// belong to sid. It parses the (bounded) form.
func (u *UI) checkForm(w http.ResponseWriter, r *http.Request, sid string) bool {
	if u.cop.Check(r) != nil {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if r.ParseForm() != nil {
		return false
	}
	return u.keys.csrfValid(sid, r.PostForm.Get("csrf"))
}

func (u *UI) handleHome(w http.ResponseWriter, r *http.Request) {
	s, err := u.session(r)
	if err != nil {
		u.fail(w, r, nil, err)
		return
	}
	if s == nil {
		u.redirectToLogin(w, r)
		return
	}
	if s.Tenant != "" {
		http.Redirect(w, r, u.link("t", s.Tenant, ""), http.StatusSeeOther)
		return
	}
	if !canRead(&s.Principal) {
		u.errorPage(w, r, s, http.StatusForbidden, "This key cannot read anything the dashboard shows", "Sign in with a key that has endpoints:read or deliveries:read.")
		return
	}
	cursor := r.URL.Query().Get("cursor")
	tenants, next, err := u.store.TenantList(r.Context(), hookd.ListParams{Limit: hookd.DefaultLimit, Cursor: cursor})
	if err != nil {
		u.fail(w, r, s, err)
		return
	}
	p := u.newPage(s, "Tenants")
	p.Nav = "tenants"
	pg := newPager(r.URL.Query(), next)
	p.Data = struct {
		Tenants []hookd.Tenant
		Pager   pager
	}{tenants, pg}
	u.render(w, http.StatusOK, "tenants", p)
}

// handleTenant sends a tenant's root to the page the session can read.
func (u *UI) handleTenant(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	if s.Can(hookd.ScopeEndpointsRead) {
		http.Redirect(w, r, u.link("t", tenant, "endpoints"), http.StatusSeeOther)
	} else {
		http.Redirect(w, r, u.link("t", tenant, "deliveries"), http.StatusSeeOther)
	}
	return nil
}

// Sign-in.

func (u *UI) loginSID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
		return c.Value
	}
	sid := randomID()
	u.setCookie(w, r, loginCookie, sid, u.now().Add(time.Hour))
	return sid
}

func safeNext(base, next string) string {
	if !strings.HasPrefix(next, base) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return base
	}
	return next
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	sid := u.loginSID(w, r)
	p := u.newPage(nil, "Sign in")
	p.CSRF = u.keys.csrfToken(sid)
	p.Error = msg
	next := r.PostForm.Get("next") // parsed, bounded, by checkForm
	if next == "" {
		next = r.URL.Query().Get("next")
	}
	p.Data = struct{ Next string }{safeNext(u.base, next)}
	u.render(w, status, "login", p)
}

func (u *UI) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := u.session(r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(u.base, r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.renderLogin(w, r, http.StatusOK, "")
}

func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !u.checkForm(w, r, c.Value) {
		u.renderLogin(w, r, http.StatusForbidden, "The sign-in form could not be verified (it may be stale, or cookies are blocked). Please try again.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if !hookd.LooksLikeAPIKey(key) {
		u.renderLogin(w, r, http.StatusUnauthorized, "That is not a valid API key. Keys start with "+hookd.KeyPrefix+".")
		return
	}
	hash := hookd.HashAPIKey(key)
	k, err := u.store.APIKeyGetByHash(r.Context(), hash)
	if err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
		u.fail(w, r, nil, err)
		return
	}
	now := u.now()
	if err != nil || !hmac.Equal(k.Hash, hash) || keyExpired(k, now) { // constant-time
		u.renderLogin(w, r, http.StatusUnauthorized, "That is not a valid API key.")
		return
	}
	if !canRead(&hookd.Principal{Scopes: k.Scopes}) {
		u.renderLogin(w, r, http.StatusForbidden, "That key has neither endpoints:read nor deliveries:read, so the dashboard could show it nothing.")
		return
	}
	exp := now.Add(KeySessionTTL)
	if !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(exp) {
		exp = k.ExpiresAt
	}
	t := token{Kind: kindKey, SID: randomID(), KeyHash: base64.RawURLEncoding.EncodeToString(hash), Expires: exp.Unix()}
	u.setCookie(w, r, sessionCookie, u.keys.encode(t), exp)
	u.setCookie(w, r, loginCookie, "", time.Time{})
	http.Redirect(w, r, safeNext(u.base, r.PostForm.Get("next")), http.StatusSeeOther)
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	s, err := u.session(r)
	if err == nil && s != nil && !u.checkForm(w, r, s.SID) {
		u.errorPage(w, r, s, http.StatusForbidden, "The form could not be verified", "Reload the page and try again.")
		return
	}
	u.setCookie(w, r, sessionCookie, "", time.Time{})
	http.Redirect(w, r, u.base+"login", http.StatusSeeOther)
}

// handlePortal opens a portal link. It answers with a page that moves on
// by meta refresh rather than a redirect: browsers do not send a
// SameSite=Strict cookie on a redirect chain that began on another site
// (the e-mail or app the link was clicked in), but do on a navigation that
// starts from our own page.
func (u *UI) handlePortal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant, sig := q.Get("t"), q.Get("sig")
	exp, err := parseInt(q.Get("exp"))
	if err != nil || !hookd.ValidTenantID(tenant) || !u.keys.portalValid(tenant, exp, sig) {
		u.errorPage(w, r, nil, http.StatusForbidden, "This link is not valid", "Check that it was copied whole, or ask for a new one.")
		return
	}
	now := u.now()
	if now.Unix() >= exp {
		u.errorPage(w, r, nil, http.StatusForbidden, "This link has expired", "Portal links are short-lived: ask for a new one.")
		return
	}
	t := token{Kind: kindPortal, SID: randomID(), Portal: tenant, Expires: now.Add(PortalSessionTTL).Unix()}
	u.setCookie(w, r, sessionCookie, u.keys.encode(t), time.Unix(t.Expires, 0))
	p := u.newPage(nil, "Opening the dashboard")
	next := u.link("t", tenant, "deliveries")
	p.RefreshURL = next
	p.Data = struct{ Next string }{next}
	u.render(w, http.StatusOK, "portal", p)
}
