package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// Cookie names. The __Host- prefix would pin them further but demands
// Secure, which a dashboard on plain http://127.0.0.1 cannot have.
const (
	sessionCookie = "hookd_session"
	loginCookie   = "hookd_login" // carries the CSRF nonce of the sign-in form
)

// Session lifetimes.
const (
	// KeySessionTTL is how long a sign-in with an API key lasts.
	KeySessionTTL = 12 * time.Hour
	// PortalSessionTTL is how long a session opened from a portal link
	// lasts; the link itself is short-lived, the page it opens need not be.
	PortalSessionTTL = 2 * time.Hour
)

// Session kinds.
const (
	kindKey    = "key"
	kindPortal = "portal"
)

// portalScopes are what a portal session may do: read its tenant and
// redeliver, but not change endpoints.
var portalScopes = []string{
	hookd.ScopeEndpointsRead, hookd.ScopeEventsRead,
	hookd.ScopeDeliveriesRead, hookd.ScopeDeliveriesWrite,
}

// token is the signed content of the session cookie. Fields are short
// because the cookie travels with every request.
type token struct {
	Kind    string `json:"k"`
	SID     string `json:"sid"`         // random; binds the CSRF token
	KeyHash string `json:"h,omitempty"` // base64 of hookd.HashAPIKey; kind "key"
	Portal  string `json:"t,omitempty"` // the tenant of kind "portal"
	Expires int64  `json:"exp"`         // Unix seconds
}

// session is a signed-in visitor: the token plus what it grants now.
type session struct {
	token
	hookd.Principal
	KeyName string // for display
}

// keys are the purpose-bound keys derived from Config.SigningKey, so that
// a value signed for one purpose (a portal link) can never pass as another
// (a session cookie).
type keys struct {
	session, csrf, portal []byte
}

func deriveKeys(secret []byte) keys {
	d := func(purpose string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("hookd ui " + purpose))
		return m.Sum(nil)
	}
	return keys{session: d("session"), csrf: d("csrf"), portal: d("portal")}
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// encode returns payload.signature, both base64url.
func (k keys) encode(t token) string {
	b, _ := json.Marshal(t)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(k.session, p))
}

var errBadToken = errors.New("invalid session token")

// decode verifies the signature before parsing anything, and refuses an
// expired token.
func (k keys) decode(s string, now time.Time) (token, error) {
	var t token
	if len(s) > 4096 {
		return t, errBadToken
	}
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return t, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(k.session, p)) {
		return t, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &t) != nil {
		return t, errBadToken
	}
	if t.SID == "" || now.Unix() >= t.Expires {
		return t, errBadToken
	}
	return t, nil
}

// csrfToken is the hidden form field for the session (or sign-in form)
// with this sid.
func (k keys) csrfToken(sid string) string {
	return hex.EncodeToString(mac(k.csrf, sid))
}

func (k keys) csrfValid(sid, got string) bool {
	want := k.csrfToken(sid)
	return sid != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// portalSig signs a portal link for tenant, valid until exp (Unix seconds).
func (k keys) portalSig(tenant string, exp int64) string {
	return hex.EncodeToString(mac(k.portal, tenant, itoa(exp)))
}

func (k keys) portalValid(tenant string, exp int64, sig string) bool {
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, mac(k.portal, tenant, itoa(exp)))
}

// secureRequest reports whether the browser reached us over TLS, directly
// or through a proxy that says so. Trusting the header here is safe: it can
// only make a cookie stricter.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     u.base,
		HttpOnly: true,
		Secure:   secureRequest(r),
		SameSite: http.SameSiteStrictMode,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// session returns the visitor's session, or nil when there is none or it
// no longer holds (expired, tampered, key deleted or expired).
func (u *UI) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	now := u.now()
	t, err := u.keys.decode(c.Value, now)
	if err != nil {
		return nil, nil
	}
	s := &session{token: t}
	switch t.Kind {
	case kindPortal:
		if !hookd.ValidTenantID(t.Portal) {
			return nil, nil
		}
		s.Principal = hookd.Principal{Tenant: t.Portal, Scopes: portalScopes}
		s.KeyName = "portal"
	case kindKey:
		hash, err := base64.RawURLEncoding.DecodeString(t.KeyHash)
		if err != nil || len(hash) != sha256.Size {
			return nil, nil
		}
		k, err := u.store.APIKeyGetByHash(r.Context(), hash)
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			return nil, nil // the key was deleted: so is the session
		}
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(k.Hash, hash) != 1 || keyExpired(k, now) {
			return nil, nil
		}
		s.Principal = hookd.Principal{KeyID: k.ID, Tenant: k.Tenant, Scopes: slices.Clone(k.Scopes)}
		s.KeyName = k.Name
		if s.KeyName == "" {
			s.KeyName = k.Prefix + "…"
		}
	default:
		return nil, nil
	}
	return s, nil
}

func keyExpired(k *hookd.APIKey, now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// canRead reports whether a principal may use the dashboard at all.
func canRead(p *hookd.Principal) bool {
	return p.Can(hookd.ScopeEndpointsRead) || p.Can(hookd.ScopeDeliveriesRead)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
