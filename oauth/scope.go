package oauth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/hookd/hookd"
)

// maxScope bounds the scope parameter: every scope spelled out is far
// shorter.
const maxScope = 512

// narrowScope returns the scopes a token gets when requested is asked of
// a client (or token) holding have: all of have when nothing is asked,
// else the requested ones, each of which have must grant (admin grants
// every scope). The result is sorted, without duplicates, space-separated
// as RFC 6749 §3.3 writes scopes. ok is false for an unknown scope or one
// not granted: invalid_scope.
func narrowScope(have []string, requested string) (scope string, ok bool) {
	if len(requested) > maxScope {
		return "", false
	}
	// RFC 6749 §3.3 separates scopes by single spaces; be lenient about
	// repeats, but nothing else counts as a separator.
	var want []string
	for s := range strings.SplitSeq(requested, " ") {
		if s != "" {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		want = slices.Clone(have)
	}
	p := hookd.Principal{Scopes: have}
	for _, s := range want {
		if !hookd.ValidScope(s) || !p.Can(s) {
			return "", false
		}
	}
	slices.Sort(want)
	return strings.Join(slices.Compact(want), " "), len(want) > 0
}

// clientScope is the library's ClientScopeHandler for the code and
// client_credentials grants: it narrows the requested scope to the
// client's, writing the result back into the request, so that an empty
// request gets every scope of the client.
func clientScope(tgr *oauth2.TokenGenerateRequest) (bool, error) {
	c := clientFrom(tgr.Request.Context())
	if c == nil || c.ID != tgr.ClientID {
		return false, oerrors.ErrInvalidClient
	}
	scope, ok := narrowScope(c.Scopes, tgr.Scope)
	if !ok {
		return false, nil
	}
	tgr.Scope = scope
	return true, nil
}

// refreshScope lets a refresh ask for fewer scopes than the token had,
// never more (RFC 6749 §6).
func refreshScope(tgr *oauth2.TokenGenerateRequest, old string) (bool, error) {
	scope, ok := narrowScope(strings.Fields(old), tgr.Scope)
	if !ok {
		return false, nil
	}
	tgr.Scope = scope
	return true, nil
}

// approver is the library's UserAuthorizationHandler: the consent page has
// put who approved into the request's context before handing it over.
func approver(_ http.ResponseWriter, r *http.Request) (string, error) {
	sub, _ := r.Context().Value(approverKey{}).(string)
	if sub == "" {
		return "", oerrors.ErrAccessDenied
	}
	return sub, nil
}

// authenticatedClientInfo is the library's ClientInfoHandler: the token
// endpoint has authenticated the client before handing the request over.
func authenticatedClientInfo(r *http.Request) (string, string, error) {
	c := clientFrom(r.Context())
	if c == nil {
		return "", "", oerrors.ErrInvalidClient
	}
	_, secret, _, _ := clientCredentials(r)
	return c.ID, secret, nil
}
