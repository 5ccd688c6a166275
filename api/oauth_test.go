package api_test

import "testing"

// The OAuth routes without an OAuth server: clients can still be managed
// (they live in the store), but no tokens are issued.
func TestOAuthNotConfigured(t *testing.T) {
	e := newEnv(t)
	e.do(request{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials", contentType: "application/x-www-form-urlencoded"}).problem(404)
	e.do(request{method: "POST", path: "/oauth/revoke", body: "token=x", contentType: "application/x-www-form-urlencoded"}).problem(404)
	e.get("/oauth/token", "").problem(405)

	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	e.post("/v1/oauth-clients", e.admin, map[string]any{"name": "x", "scopes": []string{"events:write"}}).want(201).into(&c)
	if c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("registered %+v", c)
	}
	e.do(request{method: "DELETE", path: "/v1/oauth-clients/" + c.ClientID, key: e.admin}).want(204)
	e.do(request{method: "DELETE", path: "/v1/oauth-clients/" + c.ClientID, key: e.admin}).problem(404)
}
