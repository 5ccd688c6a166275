// Package oauth is hookd's OAuth 2.0 authorization server: the token and
// revocation endpoints (POST /oauth/token, POST /oauth/revoke), the consent
// page of the authorization code grant (/ui/oauth/authorize, beside the
// dashboard), and the Authenticator that lets the API accept the access
// tokens it issues exactly like API keys.
//
// The protocol is github.com/go-oauth2/oauth2/v4 rather than code of our
// own: it parses and validates token and authorization requests, runs the
// client_credentials, authorization_code (with PKCE) and refresh_token
// grants, checks code verifiers and redirect URIs, rotates refresh tokens,
// and writes RFC 6749 answers and errors. It was chosen over ory/fosite
// because its storage model is two small interfaces keyed by the token
// strings, which map onto hookd.AuthStore in a page of adapters (fosite
// wants a session store per grant and its own request types), and because
// its generators and client secret check are pluggable, so tokens come from
// crypto/rand and only hashes are ever stored. Where the library falls
// short we wrap it rather than fork it:
//
//   - Client authentication (HTTP Basic or form fields, never both) happens
//     before the library sees the request, for every grant. The library
//     checks the secret for the code and client_credentials grants but not
//     for refresh_token, and the token store refuses a code or refresh
//     token presented by a client other than the one it was issued to.
//   - The library reads time.Now itself. The store adapters are the clock's
//     authority: they compute every expiry from Config.Now, refuse expired
//     codes and refresh tokens, and hand the library live ones as if issued
//     now with their remaining lifetime, so its own checks pass for exactly
//     those. Tests move the injected clock and tokens expire.
//   - The library's error statuses (401 for invalid_grant and
//     unsupported_grant_type) are put back to RFC 6749's: 400 for all but
//     invalid_client (401, with WWW-Authenticate when Basic was used).
//   - Revocation (RFC 7009) is not in the library; it is a short handler
//     here. It answers 200 for unknown tokens and for tokens of other
//     clients, which it leaves alone, so it tells nobody what exists.
//
// A token carries the scopes of its client, or fewer when the request asks
// for fewer (more is invalid_scope), and the client's tenant. Tokens of the
// code grant also carry who approved them. Access tokens live an hour by
// default, refresh tokens thirty days and rotate at every use, codes ten
// minutes and are single-use (the store deletes a code in one statement, so
// of two exchanges only one wins). Revoking a refresh token also revokes
// the access token issued with it.
//
// The consent page is served under the dashboard's path so that the
// dashboard's session cookie reaches it; it asks the dashboard who is
// signed in (Dashboard) and sends everyone else to the dashboard's sign-in
// first. Only a sign-in with an API key may approve, and only for scopes
// and a tenant that key itself holds: approving cannot mint more than the
// approver has, and a portal link (a URL anyone holding it can open)
// cannot be turned into a thirty-day refresh token. The approval form is
// protected by a CSRF token bound to the session and to every parameter
// of the request, and by a cross-origin check.
//
// Access tokens are looked up by hash in the store and the answer cached
// for a few seconds, like API keys: the publish route costs no store read,
// a revocation on this node takes effect at once, and on other nodes
// within the cache's TTL.
package oauth
