// Package ui is hookd's dashboard: server-rendered HTML pages, mounted at
// /ui/, where operators and the owners of endpoints see what failed and
// redeliver it.
//
// The pages are html/template files and one stylesheet embedded in the
// binary, so it needs no asset pipeline, and every page reads
// without JavaScript (a pending delivery refreshes itself with a meta
// refresh, not a script). The dashboard talks to hookd.Store and
// hookd.Engine directly rather than to the JSON API over HTTP: one process,
// no second authentication hop, and the same tenant and scope rules.
//
// Sessions are stateless: the cookie holds an HMAC-signed, expiring token
// (never the API key) naming the key by its hash, so every node sharing a
// database accepts it and deleting the key ends its sessions at the next
// page. A tenant portal link is an HMAC-signed URL with an expiry; opening
// it starts a session restricted to that tenant with read and redeliver
// rights. Every form carries a CSRF token bound to the session, and
// cross-origin POSTs are refused by Sec-Fetch-Site/Origin as well.
//
// Lists use keyset pagination only, and endpoint health is computed from a
// bounded window of recent attempts and pending deliveries, never a
// COUNT(*) over a table that may hold millions of rows.
package ui
