package ui

import (
	"net/http"

	"github.com/hookd/hookd"
)

// Visitor returns who is signed in to the dashboard on r, for pages served
// beside it under its path (the OAuth consent page, package oauth): the
// principal the session grants, nil when nobody is signed in, and the
// session's random ID, to which such a page binds its CSRF tokens. A
// session opened from a portal link has an empty KeyID.
func (u *UI) Visitor(r *http.Request) (p *hookd.Principal, sessionID string, err error) {
	s, err := u.session(r)
	if err != nil || s == nil {
		return nil, "", err
	}
	pr := s.Principal
	return &pr, s.SID, nil
}
