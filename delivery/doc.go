// Package delivery is hookd's delivery engine: it fans published events out
// to endpoints, sends each delivery as a signed HTTP request through a
// per-endpoint lane, classifies the outcome, schedules retries, and writes
// every attempt back to the store. It implements hookd.Engine.
//
// Leases, not held transactions. A delivery is attempted only by the node
// holding its lease (LeaseOwner, LeaseUntil in the store), and a request
// starts only if the lease outlasts the endpoint's timeout by a margin, so
// two nodes never send the same attempt at once. Holding a database
// transaction (or row lock) across an HTTP request instead would tie a
// connection to every request in flight, stall on slow endpoints, and lose
// nothing more safely: if a node dies, its leases simply expire and another
// node (or the restarted one) attempts the deliveries again. Delivery is
// therefore at least once; receivers deduplicate on webhook-id, the event
// id, which is the same on every attempt.
//
// Dispatch from memory. Publish builds the deliveries, stores them with the
// event in one EventInsertMany (durable when it returns), and hands them to
// their lanes right after the commit: the deliveries are inserted already
// leased to this node, so nothing else competes for them and no poll stands
// between a publish and its request. The poller exists for the rest:
// retries (a timer set to the earliest retry this node scheduled, so a
// retry due in 1s is sent within milliseconds of it), deliveries that did
// not fit their lane, wake-ups from other nodes, and a periodic sweep for
// expired leases and restarts. With a shared store (hookd.Waker), which
// enforces MaxInFlight across nodes when claiming, nothing is leased at
// insert; the node claims right after the commit instead.
//
// Lanes. Each endpoint has its own lane: a bounded queue, at most
// max_in_flight workers, and a rate limiter. A slow, dead or rate-limited
// endpoint fills only its own lane; its further deliveries wait in the
// store, not in memory. First attempts are served before retries (with
// every fourth pick reserved for a retry), so a backlog of retries never
// delays fresh events. On a store this node owns alone (no Waker), a claim
// for a backlogged lane leases up to 2,048 deliveries beyond max_in_flight
// (hookd.DeliveryClaimParams.Ahead; no more than the lane can send within
// half the lease margin at the endpoint's pace, and only max_in_flight
// more until an attempt has told the pace): the lane holds them and still
// sends max_in_flight at once, and a backlog drains without a claim per
// outcome.
//
// No redirects. A 3xx is recorded as the outcome "redirect" and retried
// like any failure. The URL an endpoint's owner registered is the only one
// hookd sends to: following a redirect would send signed payloads to an
// address nobody configured, and would be a way around the SSRF guard,
// which checks the address actually dialled (after DNS resolution) and
// blocks loopback, private, link-local and other non-public ranges unless
// Options.AllowNetworks permits them.
//
// Requests on the worker's goroutine. The lane worker writes the request
// and reads the answer itself, over a keep-alive connection pooled per
// host (direct.go), rather than through net/http's Transport, whose two
// goroutines per connection cost about as much CPU as the exchange. It
// speaks HTTP/1.1 and parses answers with net/http's ReadResponse; with
// Options.MaxConnsPerHost set, the Transport is used instead.
//
// Batched outcomes. Attempts finish one by one, but their records go to
// the store in batches: a single writer goroutine gathers what completed
// within about a millisecond (up to Options.RecordBatch) and writes it with
// one AttemptRecordMany. The store sees a few large transactions instead of
// one fsync per request, which is what lets one node sustain thousands of
// deliveries per second on SQLite.
//
// Retry timing. After a failed attempt the endpoint's retry policy is asked
// for the next time with n = the attempts made and first = the delivery's
// CreatedAt (which, for a delivery dispatched at publish, is its first
// attempt). A 429 or 503 with Retry-After (seconds or an HTTP date) pushes
// the next attempt later, never earlier. With no next attempt the delivery
// is failed; a 410 also disables the endpoint. A manual retry (Retry) of
// an exhausted delivery is one more attempt, not a new schedule.
//
// Recovery and lifecycle. Replays are jobs in the store that any node may
// lease and step: a step feeds the endpoint a window of its past
// deliveries (four times max_in_flight) and counts those attempted since,
// so a replay of any size costs a window at a time, goes through the lane
// as retries (fresh events first, the endpoint's limits hold) and resumes
// from its stored cursor after a restart (replay.go). The delivery path
// hands every recorded outcome to a health tracker, which writes an
// endpoint's health only when its state turns or every HealthRefresh;
// the store disables an endpoint failing for DisableAfter in the same
// transaction (health.go). Operational events go to Options.OpsTenant
// through Publish, so operators subscribe with ordinary endpoints
// (ops.go).
//
// Time. The engine reads the clock and makes its timers through
// Options.Now and Options.NewTimer (hookdtest.Clock fakes both), so tests
// of hour-long schedules run in milliseconds.
package delivery
