package api

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/hookd/hookd"
)

// Portal makes signed links that open the dashboard restricted to one
// tenant; *ui.UI implements it.
type Portal interface {
	// PortalLink returns a link valid for ttl and when it expires; base
	// is the scheme and host the browser reaches hookd at.
	PortalLink(tenant string, ttl time.Duration, base string) (link string, expires time.Time)
}

func init() { routes = append(routes, portalRoutes...) }

var portalRoutes = []route{
	{id: "createPortalLink", method: "POST", path: "/v1/tenants/{tenant}/portal-links", scope: hookd.ScopeAdmin,
		summary: "Make a short-lived signed link that opens the dashboard restricted to this tenant",
		body:    typeOf[portalBody](), bodyOptional: true, status: http.StatusCreated, resp: typeOf[portalLink](), serve: createPortalLink},
}

// portalBody asks for a portal link.
type portalBody struct {
	// TTL is how long the link may be opened (default 15m, at most 24h).
	// The session it opens lasts 2h from then.
	TTL *hookd.Duration `json:"ttl,omitempty"`
}

// portalLink is a link to hand to a tenant.
type portalLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Portal link lifetimes, as the dashboard bounds them.
const (
	defaultPortalTTL = 15 * time.Minute
	maxPortalTTL     = 24 * time.Hour
)

func createPortalLink(c *call) error {
	if c.s.portal == nil {
		return hookd.Errorf(hookd.ENOTFOUND, "the dashboard is not enabled on this server")
	}
	var b portalBody
	buf, err := c.readBody(c.s.maxBody)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	// An empty body asks for the default lifetime.
	if len(bytes.TrimSpace(buf.Bytes())) > 0 {
		if err := decodeError(jsonv2.Unmarshal(buf.Bytes(), &b, decodeOptions)); err != nil {
			return err
		}
	}
	ttl := defaultPortalTTL
	if b.TTL != nil {
		switch d := time.Duration(*b.TTL); {
		case !b.TTL.Valid():
			return hookd.Invalid("ttl", hookd.DurationMessage)
		case d < time.Second || d > maxPortalTTL:
			return hookd.Invalid("ttl", "must be between 1s and %s", maxPortalTTL)
		default:
			ttl = d
		}
	}
	link, exp := c.s.portal.PortalLink(c.tenant, ttl, requestBase(c.r))
	return c.respond(http.StatusCreated, portalLink{URL: link, ExpiresAt: exp.UTC()})
}

// requestBase is the scheme and host the caller reached the API at,
// which is where a browser reaches the dashboard too. A proxy that
// terminates TLS says so with X-Forwarded-Proto; the host is the
// request's own, which net/http has checked.
func requestBase(r *http.Request) string {
	if r.Host == "" {
		return "" // a path-only link is better than a broken one
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
