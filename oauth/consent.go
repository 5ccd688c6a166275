package oauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookd/hookd"
)

//go:embed templates/consent.html
var consentHTML string

var consentPage = template.Must(template.New("consent").Parse(consentHTML))

// authRequest is an authorization request (RFC 6749 §4.1.1, RFC 7636
// §4.3), as the consent form carries it from the GET to the POST.
type authRequest struct {
	ResponseType    string
	ClientID        string
	RedirectURI     string
	Scope           string
	State           string
	Challenge       string
	ChallengeMethod string
}

// maxParam bounds each parameter of an authorization request.
const maxParam = 2048

var authParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

func readAuthRequest(v url.Values) (authRequest, string) {
	for _, k := range append(authParams, "csrf", "decision") {
		if len(v[k]) > 1 {
			return authRequest{}, "The parameter " + k + " is given more than once."
		}
		if len(v.Get(k)) > maxParam {
			return authRequest{}, "The parameter " + k + " is too long."
		}
	}
	return authRequest{
		ResponseType: v.Get("response_type"), ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"),
		Scope: v.Get("scope"), State: v.Get("state"),
		Challenge: v.Get("code_challenge"), ChallengeMethod: v.Get("code_challenge_method"),
	}, ""
}

func (a authRequest) values() url.Values {
	return url.Values{
		"response_type": {a.ResponseType}, "client_id": {a.ClientID}, "redirect_uri": {a.RedirectURI},
		"scope": {a.Scope}, "state": {a.State},
		"code_challenge": {a.Challenge}, "code_challenge_method": {a.ChallengeMethod},
	}
}

// scopeTexts say what each scope lets an application do.
var scopeTexts = map[string]string{
	hookd.ScopeEndpointsRead:   "see endpoints and their settings",
	hookd.ScopeEndpointsWrite:  "create, change and delete endpoints, and reveal or rotate their signing secrets",
	hookd.ScopeEventsRead:      "read published events and their data",
	hookd.ScopeEventsWrite:     "publish events",
	hookd.ScopeDeliveriesRead:  "see deliveries and every attempt",
	hookd.ScopeDeliveriesWrite: "redeliver and replay deliveries",
	hookd.ScopeAdmin:           "everything, including API keys and OAuth clients",
}

type scopeText struct{ Name, Text string }

type consentData struct {
	Title, Base   string
	Problem, Hint string
	Client        *hookd.OAuthClient
	Scopes        []scopeText
	Approver      string
	Request       authRequest
	CSRF          string
}

// ServeAuthorize serves the consent page of the authorization code grant,
// GET and POST at BasePath+"oauth/authorize". See the package doc.
func (s *Server) ServeAuthorize(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY") // a consent button must not be clickjacked
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

	if s.dashboard == nil {
		s.problem(w, http.StatusNotFound, "This server has no dashboard to approve applications in.", "")
		return
	}
	var params url.Values
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		params = r.URL.Query()
	case http.MethodPost:
		if err := s.cop.Check(r); err != nil {
			s.problem(w, http.StatusForbidden, "This form was sent from another site.", "Open the authorization link again.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.problem(w, http.StatusBadRequest, "The form could not be read.", "")
			return
		}
		params = r.PostForm
	default:
		h.Set("Allow", "GET, HEAD, POST")
		s.problem(w, http.StatusMethodNotAllowed, "Use GET to ask for consent.", "")
		return
	}
	req, msg := readAuthRequest(params)
	if msg != "" {
		s.problem(w, http.StatusBadRequest, msg, "")
		return
	}

	// Until the client and redirect URI are known good, errors are shown
	// here, never sent to the redirect URI (RFC 6749 §4.1.2.1).
	c, status, msg, hint := s.checkClient(r.Context(), &req)
	if c == nil {
		s.problem(w, status, msg, hint)
		return
	}
	// The browser may now be sent back to the client, also after the POST.
	if o := origin(req.RedirectURI); o != "" {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self' "+o+"; frame-ancestors 'none'; base-uri 'none'")
	}
	if code, desc := checkRequest(&req, c); code != "" {
		redirectError(w, r, req, code, desc)
		return
	}

	p, sid, err := s.dashboard.Visitor(r)
	if err != nil {
		s.log.Error("oauth: reading the dashboard session", "err", err)
		s.problem(w, http.StatusServiceUnavailable, "The sign-in could not be checked.", "Try again in a moment.")
		return
	}
	if p == nil {
		next := s.base + "oauth/authorize?" + req.values().Encode()
		http.Redirect(w, r, s.base+"login?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
		return
	}
	if p.KeyID == "" {
		s.problem(w, http.StatusForbidden, "A portal session cannot authorize applications.",
			"Sign in to the dashboard with an API key that holds the scopes asked for.")
		return
	}
	if !canGrant(p, c, req.Scope) {
		s.problem(w, http.StatusForbidden, "Your sign-in cannot grant what this application asks for.",
			"Approving needs an API key that sees "+tenantText(c.Tenant)+" and holds the scopes "+req.Scope+". Sign out and sign in with such a key.")
		return
	}
	csrf := s.csrf(sid, req)

	if r.Method != http.MethodPost {
		d := &consentData{
			Title: "Authorize an application", Base: s.base, Client: c,
			Approver: p.KeyID, Request: req, CSRF: csrf,
		}
		for sc := range strings.SplitSeq(req.Scope, " ") {
			d.Scopes = append(d.Scopes, scopeText{sc, scopeTexts[sc]})
		}
		s.render(w, http.StatusOK, d)
		return
	}
	if !hmac.Equal([]byte(params.Get("csrf")), []byte(csrf)) {
		s.problem(w, http.StatusForbidden, "The form has expired or was not sent from this page.", "Open the authorization link again.")
		return
	}
	switch params.Get("decision") {
	case "approve":
	case "deny":
		redirectError(w, r, req, "access_denied", "the user denied the request")
		return
	default:
		s.problem(w, http.StatusBadRequest, "Choose Approve or Deny.", "")
		return
	}
	// The library issues the code and redirects, reading the (checked,
	// normalized) request from r.Form and who approved from the context.
	ctx := context.WithValue(r.Context(), approverKey{}, p.KeyID)
	r = withClient(r.WithContext(ctx), c)
	r.Form = req.values()
	if err := s.lib.HandleAuthorizeRequest(w, r); err != nil {
		s.log.Error("oauth: issuing a code", "err", err)
		s.problem(w, http.StatusInternalServerError, "The authorization could not be completed.", "Try again.")
	}
}

// checkClient finds the client and settles the redirect URI: a registered
// one exactly, or the only one registered when none is given. It returns
// nil and what to show when either is wrong.
func (s *Server) checkClient(ctx context.Context, req *authRequest) (c *hookd.OAuthClient, status int, msg, hint string) {
	if req.ClientID == "" {
		return nil, http.StatusBadRequest, "The request names no client (client_id).", ""
	}
	c, err := s.store.OAuthClientGet(ctx, req.ClientID)
	switch {
	case hookd.ErrorCode(err) == hookd.ENOTFOUND:
		return nil, http.StatusBadRequest, "There is no application with this client_id.", "It may have been deleted."
	case err != nil:
		s.log.Error("oauth: looking up a client", "err", err)
		return nil, http.StatusServiceUnavailable, "The application could not be looked up.", "Try again in a moment."
	}
	switch {
	case req.RedirectURI == "" && len(c.RedirectURIs) == 1:
		req.RedirectURI = c.RedirectURIs[0]
	case req.RedirectURI == "":
		return nil, http.StatusBadRequest, "The request names no redirect_uri, and the application has several or none.", ""
	case validateRedirect(strings.Join(c.RedirectURIs, "\n"), req.RedirectURI) != nil:
		return nil, http.StatusBadRequest, "The redirect_uri is not one registered for this application.",
			"Redirect URIs must match a registered one exactly."
	}
	return c, 0, "", ""
}

// checkRequest checks what may be answered at the redirect URI, and
// settles the scope (narrowed to the client's). It returns the RFC 6749
// error code and description, or "".
func checkRequest(req *authRequest, c *hookd.OAuthClient) (code, desc string) {
	if req.ResponseType != "code" {
		return "unsupported_response_type", "response_type must be code"
	}
	if req.ChallengeMethod != "S256" || !validChallenge(req.Challenge) {
		return "invalid_request", "PKCE is required: code_challenge (43 to 128 characters) with code_challenge_method S256"
	}
	scope, ok := narrowScope(c.Scopes, req.Scope)
	if !ok {
		return "invalid_scope", "the scope asks for more than the client may have, or names an unknown scope"
	}
	req.Scope = scope
	return "", ""
}

// validChallenge checks a code challenge's length and alphabet (RFC 7636
// §4.2, base64url for S256).
func validChallenge(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// canGrant reports whether the approver holds everything the token would
// carry: the client's tenant (or every tenant, for a client bound to
// none) and each scope.
func canGrant(p *hookd.Principal, c *hookd.OAuthClient, scope string) bool {
	if p.Tenant != "" && p.Tenant != c.Tenant {
		return false
	}
	for sc := range strings.SplitSeq(scope, " ") {
		if !p.Can(sc) {
			return false
		}
	}
	return true
}

// origin returns the scheme://host[:port] of an http(s) URI for a CSP
// source list, or "" when it holds anything a source may not.
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	for i := 0; i < len(u.Host); i++ {
		c := u.Host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

func tenantText(t string) string {
	if t == "" {
		return "every tenant"
	}
	return "tenant " + t
}

// csrf binds the form to the session and to every parameter it carries,
// so that neither a form of another session nor an altered one passes.
func (s *Server) csrf(sid string, req authRequest) string {
	m := hmac.New(sha256.New, s.csrfKey)
	for _, v := range []string{sid, req.ClientID, req.RedirectURI, req.Scope, req.State, req.Challenge, req.ChallengeMethod} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// redirectError sends the browser back to the client with an error (RFC
// 6749 §4.1.2.1).
func redirectError(w http.ResponseWriter, r *http.Request, req authRequest, code, desc string) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest) // checked before; cannot happen
		return
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if req.State != "" {
		q.Set("state", req.State)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) problem(w http.ResponseWriter, status int, msg, hint string) {
	s.render(w, status, &consentData{Title: "Cannot authorize", Base: s.base, Problem: msg, Hint: hint})
}

// render executes the page into a buffer first, so a template error is a
// clean 500, never half a page.
func (s *Server) render(w http.ResponseWriter, status int, d *consentData) {
	var buf bytes.Buffer
	if err := consentPage.Execute(&buf, d); err != nil {
		s.log.Error("oauth: rendering the consent page", "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
