package hookd

import (
	"context"
	"time"
)

// Store is everything hookd keeps. store/sqlite and store/postgres
// implement it, and store/storetest is the conformance suite both pass; no
// other package knows which one it has.
//
// Every method that reads or changes a tenant's object takes the tenant and
// answers ENOTFOUND for another tenant's object. List methods return at most
// Limit rows and a cursor for the next page ("" on the last page); cursors
// are opaque strings made by the store, and a malformed one is EINVALID
// with field "cursor". Pagination is keyset-based, so rows arriving between
// pages neither repeat nor vanish.
//
// Methods named …Many take batches: the SQLite store merges concurrent
// calls into one transaction (group commit) and PostgreSQL sends them in one
// round trip, so the hot paths cost one fsync per batch, not per row.
type Store interface {
	AuthStore
	RecoveryStore

	// TenantList lists the tenants, created on first use by EndpointInsert
	// and EventInsertMany.
	TenantList(ctx context.Context, p ListParams) ([]Tenant, string, error)

	EndpointInsert(ctx context.Context, e *Endpoint) error
	EndpointGet(ctx context.Context, tenant, id string) (*Endpoint, error)
	EndpointList(ctx context.Context, p EndpointListParams) ([]*Endpoint, string, error)
	// EndpointListAll returns every endpoint of tenant, for fan-out.
	EndpointListAll(ctx context.Context, tenant string) ([]*Endpoint, error)
	// EndpointUpdate replaces the endpoint (matched by Tenant and ID).
	EndpointUpdate(ctx context.Context, e *Endpoint) error
	// EndpointDelete removes the endpoint and cancels its pending
	// deliveries; its history stays until retention removes it.
	EndpointDelete(ctx context.Context, tenant, id string, now time.Time) error

	// EventInsertMany stores events with their deliveries, all in one
	// transaction, durable when it returns. An event whose (Tenant, ID) is
	// already stored is not stored again and its deliveries are dropped:
	// its result carries the stored event and Duplicate. The store sets
	// Seq and, on the tenant's first use, creates the tenant.
	EventInsertMany(ctx context.Context, in []EventInsert) ([]EventInsertResult, error)
	EventGet(ctx context.Context, tenant, id string) (*Event, error)
	EventList(ctx context.Context, p EventListParams) ([]*Event, string, error)

	DeliveryGet(ctx context.Context, tenant, id string) (*Delivery, error)
	DeliveryList(ctx context.Context, p DeliveryListParams) ([]*Delivery, string, error)
	// DeliveryClaimMany leases due pending deliveries (NextAttemptAt ≤ Now,
	// no live lease) to p.Owner until p.LeaseUntil, oldest due first, and
	// returns them with their events.
	DeliveryClaimMany(ctx context.Context, p DeliveryClaimParams) ([]Claim, error)
	// DeliveryRetry makes a delivery in any state pending and due at now,
	// dropping any lease. It returns the updated delivery.
	DeliveryRetry(ctx context.Context, tenant, id string, now time.Time) (*Delivery, error)
	// DeliveryReleaseMany drops owner's leases on the given deliveries
	// (all of owner's when ids is nil), making them due at once; used on
	// shutdown so another node (or the next start) need not wait.
	DeliveryReleaseMany(ctx context.Context, owner string, ids []string) error

	// AttemptRecordMany stores attempts and applies each one's effect on its
	// delivery (and, for 410, its endpoint) in one transaction. The
	// delivery is only changed while rec.LeaseOwner still holds its lease;
	// the attempt is stored regardless, since it happened.
	AttemptRecordMany(ctx context.Context, recs []AttemptRecord) error
	AttemptListByDelivery(ctx context.Context, tenant, deliveryID string, p ListParams) ([]*Attempt, string, error)
	AttemptListByEndpoint(ctx context.Context, p AttemptListParams) ([]*Attempt, string, error)

	APIKeyInsert(ctx context.Context, k *APIKey) error
	// APIKeyGetByHash finds a key by HashAPIKey of its secret; ENOTFOUND if absent.
	APIKeyGetByHash(ctx context.Context, hash []byte) (*APIKey, error)
	APIKeyList(ctx context.Context, p ListParams) ([]*APIKey, string, error)
	APIKeyDelete(ctx context.Context, id string) error

	// RetentionPurge deletes up to batch rows of events, deliveries and
	// attempts created before before (never a pending delivery's),
	// returning how many it deleted; callers repeat until it returns 0, so
	// no single statement stalls delivery.
	RetentionPurge(ctx context.Context, before time.Time, batch int) (int, error)

	// Ping checks that the store answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Tenant is an isolation unit: one of the operator's customers.
type Tenant struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultLimit and MaxLimit bound list pages.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ListParams pages a list.
type ListParams struct {
	Limit  int
	Cursor string
}

// EndpointListParams filters EndpointList (newest first).
type EndpointListParams struct {
	ListParams
	Tenant string
}

// EventListParams filters EventList (newest first). Zero times are open.
type EventListParams struct {
	ListParams
	Tenant string
	Type   string
	Since  time.Time // CreatedAt ≥ Since
	Until  time.Time // CreatedAt < Until
}

// DeliveryListParams filters DeliveryList (newest first).
type DeliveryListParams struct {
	ListParams
	Tenant     string
	EndpointID string
	EventID    string
	EventType  string
	State      DeliveryState
	Since      time.Time
	Until      time.Time
}

// AttemptListParams filters AttemptListByEndpoint (newest first).
type AttemptListParams struct {
	ListParams
	Tenant     string
	EndpointID string
	Failed     *bool
	Since      time.Time
	Until      time.Time
}

// EventInsert is one event to store and the deliveries it fans out to.
// Deliveries may carry a lease (LeaseOwner, LeaseUntil) when the caller
// will dispatch them itself right after the commit.
type EventInsert struct {
	Event      *Event
	Deliveries []*Delivery
}

// EventInsertResult answers one EventInsert, in the same order.
type EventInsertResult struct {
	Event     *Event // the stored event: the caller's, or the earlier one for a duplicate
	Duplicate bool
}

// DeliveryClaimParams says which deliveries DeliveryClaimMany may lease.
type DeliveryClaimParams struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Max        int
	// EndpointID, when set, claims only that endpoint's deliveries.
	EndpointID string
	// SkipEndpoints are left alone (their lanes are full).
	SkipEndpoints []string
	// Ahead lets the claim lease up to Ahead[endpointID] deliveries of an
	// endpoint beyond its MaxInFlight (less its live leases). The engine
	// holds them in the endpoint's lane and still sends at most
	// MaxInFlight at once, so a backlog drains without waiting for a
	// claim after every outcome. Only one node's store may honour it: a
	// shared store (Waker) counts leases as requests in flight across
	// nodes, and ignores it.
	Ahead map[string]int
}

// Claim is a leased delivery with the event it carries.
type Claim struct {
	Delivery *Delivery
	Event    *Event
}

// AttemptRecord is one attempt and its effect on the delivery.
type AttemptRecord struct {
	Attempt *Attempt
	// State is the delivery's state after the attempt: succeeded, failed
	// (retries exhausted), or pending with NextAttemptAt.
	State         DeliveryState
	NextAttemptAt time.Time
	// LeaseOwner is the node that made the attempt; the delivery changes
	// only if that node still holds its lease.
	LeaseOwner string
	// DisableEndpoint, when set, disables the endpoint with this reason
	// (e.g. "410 Gone").
	DisableEndpoint string
}
