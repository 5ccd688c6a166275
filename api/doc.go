// Package api is hookd's HTTP API: the JSON routes under /v1, their
// authentication, the RFC 9457 error documents, and the operational routes
// /healthz, /readyz, /metrics and /openapi.json.
//
// One table of routes (routes.go) is the single source of truth: it builds
// the http.ServeMux, decides each route's scope and accepted query
// parameters, and generates the OpenAPI 3.1 document by reflecting over the
// request and response Go types, so the document cannot drift from what
// the server does. Later features (OAuth, replays, stats) add rows to it.
//
// Handlers return errors instead of writing them. One function, status,
// maps each hookd.Error code to an HTTP status, so no handler decides on
// its own whether something is a 404 or a 422; anything that is not a
// *hookd.Error is a bug, answered with a generic 500 and logged.
//
// Input is treated as hostile: bodies are read up to a limit (413 beyond),
// must be JSON when a Content-Type is given (415 otherwise; a missing one,
// or the form type curl -d sends by default, is accepted and the body read
// as JSON), and are decoded strictly: unknown members,
// duplicate names and wrong types are 422 naming the field as a path
// ("retry.backoff.initial", "events[3].type"), and syntax errors are 400.
// Unknown query parameters are 422 as well, because a misspelt filter that
// is silently ignored returns the wrong rows. Everything is validated
// before anything is written, so no request ends in a partial write.
//
// Answers keep to a few shapes. Lists are {"data": [...], "next_cursor"}.
// A publish answers the event's own fields plus "delivery_count" (the
// deliveries this request created) and "duplicate"; a batch answers
// {"data": [...]} with one such object per event, in order. An endpoint's
// secret appears in the answer to its creation and otherwise only from
// GET …/secret and POST …/secret/rotate ({"secret", "previous"}). PATCH of
// an endpoint is a JSON merge patch (RFC 7386): an absent field stays as
// it is, null resets it to its default, objects such as headers merge key
// by key, and retry, being one policy, is replaced whole.
//
// A tenant-bound credential never learns that another tenant's objects
// exist: it gets 404 for them, never 403. Credentials are checked by a list
// of Authenticators; the built-in one looks API keys up by their SHA-256
// hash and caches the answer for a few seconds, so the hot publish route
// costs no store read for authentication while a deleted key stops working
// within the cache's TTL on every node (at once on the node that deleted
// it).
package api
