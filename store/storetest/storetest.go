// Package storetest is the conformance suite of hookd.Store. Every store
// (store/sqlite, store/postgres) runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) hookd.Store { return openFreshStore(t) })
//	}
//
// The suite pins down what the doc comments of hookd.Store leave to the
// implementation, so that the rest of hookd never needs to know which store
// it has. Choices it makes, which every store must follow:
//
//   - Lists are newest first by CreatedAt (attempts by StartedAt; attempts of
//     one delivery oldest first). Rows with equal times come in a fixed order
//     of the store's choosing.
//   - A Limit ≤ 0 means hookd.DefaultLimit; a Limit above hookd.MaxLimit is
//     clamped to hookd.MaxLimit (not an error).
//   - A malformed cursor is EINVALID with the field "cursor".
//   - Times come back in UTC at microsecond precision.
//   - Reading or changing another tenant's object is ENOTFOUND, exactly as
//     for an id that does not exist. AttemptListByDelivery and
//     AttemptListByEndpoint are ENOTFOUND when the delivery or endpoint is
//     not the tenant's.
//   - A unique violation (endpoint id, delivery id, attempt id) is
//     EDUPLICATE, and in EventInsertMany it fails the whole call, leaving
//     nothing of it stored.
//   - AttemptRecordMany changes a delivery only while its LeaseOwner equals
//     the record's LeaseOwner (whether or not LeaseUntil has passed: a lease
//     is lost only to another claim, a retry, a release or a cancel), and
//     always clears the lease. It adds one to Attempts, sets the Last*
//     fields from the attempt, and NextAttemptAt only for a pending state.
//   - EndpointDelete cancels the endpoint's pending deliveries (State
//     cancelled, NextAttemptAt zero, lease dropped, UpdatedAt now).
//   - RetentionPurge deletes only rows created before the cutoff, never a
//     pending delivery nor the event it needs, and returns 0 once nothing
//     is left. How much one call deletes is the store's: SQLite deletes at
//     most batch rows, PostgreSQL drops whole partitions.
//   - DeliveryClaimMany never leases a delivery of a disabled endpoint, and
//     never lets the live leases of one endpoint (of any owner, including
//     leases taken at insert) exceed its MaxInFlight.
//
// Tests use a fixed base time far in the future (year 2100) and pass it
// explicitly wherever the interface takes a time, so no result depends on
// the wall clock. Where a store must use its own clock (DeliveryReleaseMany
// makes deliveries "due at once"), the base being later than any real clock
// keeps the expectations exact.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// base is the suite's "now". It has microsecond precision, the precision
// stores keep.
var base = time.Date(2100, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the conformance suite. open must return a fresh, empty,
// migrated store for each subtest and register its cleanup with t.
func Run(t *testing.T, open func(t *testing.T) hookd.Store) { run(t, open, false) }

// RunParallel is Run with the subtests run in parallel, for stores whose
// open returns stores that share nothing (say, files in t.TempDir()).
func RunParallel(t *testing.T, open func(t *testing.T) hookd.Store) { run(t, open, true) }

func run(t *testing.T, open func(t *testing.T) hookd.Store, parallel bool) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"Tenant/CreatedOnFirstUse", testTenantCreatedOnFirstUse},
		{"Tenant/ListPages", testTenantListPages},
		{"Endpoint/RoundTrip", testEndpointRoundTrip},
		{"Endpoint/InsertDuplicate", testEndpointInsertDuplicate},
		{"Endpoint/Update", testEndpointUpdate},
		{"Endpoint/List", testEndpointList},
		{"Endpoint/ListAll", testEndpointListAll},
		{"Endpoint/Delete", testEndpointDelete},
		{"Endpoint/TenantIsolation", testEndpointTenantIsolation},
		{"Event/InsertMany", testEventInsertMany},
		{"Event/DuplicateStored", testEventDuplicateStored},
		{"Event/DuplicateInBatch", testEventDuplicateInBatch},
		{"Event/SameIDTwoTenants", testEventSameIDTwoTenants},
		{"Event/AllOrNothing", testEventAllOrNothing},
		{"Event/Concurrent", testEventConcurrent},
		{"Event/TenantIsolation", testEventTenantIsolation},
		{"Event/List", testEventList},
		{"Delivery/TenantIsolation", testDeliveryTenantIsolation},
		{"Delivery/List", testDeliveryList},
		{"Delivery/LeaseAtInsert", testDeliveryLeaseAtInsert},
		{"Delivery/Retry", testDeliveryRetry},
		{"Delivery/Release", testDeliveryRelease},
		{"Claim/Due", testClaimDue},
		{"Claim/ReturnsEvent", testClaimReturnsEvent},
		{"Claim/Filters", testClaimFilters},
		{"Claim/DisabledEndpoint", testClaimDisabledEndpoint},
		{"Claim/MaxInFlight", testClaimMaxInFlight},
		{"Claim/Ahead", testClaimAhead},
		{"Claim/Concurrent", testClaimConcurrent},
		{"Attempt/Record", testAttemptRecord},
		{"Attempt/RecordOutcomes", testAttemptRecordSucceeded},
		{"Attempt/RecordMany", testAttemptRecordMany},
		{"Attempt/ListByEndpoint", testAttemptListByEndpoint},
		{"Attempt/ListByDelivery", testAttemptListByDelivery},
		{"APIKey", testAPIKey},
		{"Retention/Purge", testRetentionPurge},
		{"List/Limits", testListLimits},
		{"List/Cursors", testCursors},
	}
	tests = append(tests, authTests...)
	tests = append(tests, recoveryTests...)
	tests = append(tests, seqTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			tt.fn(t, &fixture{t: t, s: open(t), ctx: ctx})
		})
	}
}

// fixture holds one subtest's store and builds its objects.
type fixture struct {
	t   *testing.T
	s   hookd.Store
	ctx context.Context
	n   atomic.Int64 // makes names unique within the subtest
}

// at returns base shifted by d.
func at(d time.Duration) time.Time { return base.Add(d) }

// endpoint inserts an enabled endpoint of tenant created at t.
func (f *fixture) endpoint(tenant string, t time.Time, opts ...func(*hookd.Endpoint)) *hookd.Endpoint {
	f.t.Helper()
	e := newEndpoint(tenant, t)
	for _, o := range opts {
		o(e)
	}
	if err := f.s.EndpointInsert(f.ctx, e); err != nil {
		f.t.Fatalf("EndpointInsert: %v", err)
	}
	return e
}

func newEndpoint(tenant string, t time.Time) *hookd.Endpoint {
	e := &hookd.Endpoint{
		ID:        hookd.NewID(hookd.PrefixEndpoint),
		Tenant:    tenant,
		URL:       "https://example.com/hooks",
		Enabled:   true,
		CreatedAt: t,
		UpdatedAt: t,
		Secrets:   []hookd.Secret{{Value: hookd.NewSecret()}},
	}
	e.Normalize()
	e.MaxInFlight = 1000
	return e
}

// event builds an event of tenant created (and occurred) at t.
func (f *fixture) event(tenant, typ string, t time.Time) *hookd.Event {
	return &hookd.Event{
		ID:         fmt.Sprintf("evt_%s_%d", f.t.Name(), f.n.Add(1)),
		Tenant:     tenant,
		Type:       typ,
		Data:       json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"ü\"x"}`, f.n.Load())),
		OccurredAt: t.Add(-time.Second),
		CreatedAt:  t,
	}
}

// delivery builds a pending delivery of ev to ep, due at ev.CreatedAt.
func delivery(ev *hookd.Event, ep *hookd.Endpoint) *hookd.Delivery {
	return &hookd.Delivery{
		ID:            hookd.NewID(hookd.PrefixDelivery),
		Tenant:        ev.Tenant,
		EventID:       ev.ID,
		EventType:     ev.Type,
		EndpointID:    ep.ID,
		State:         hookd.StatePending,
		NextAttemptAt: ev.CreatedAt,
		CreatedAt:     ev.CreatedAt,
		UpdatedAt:     ev.CreatedAt,
	}
}

// publish stores one event of type typ created at t with a delivery to
// each of eps, and returns the event and the deliveries.
func (f *fixture) publish(tenant, typ string, t time.Time, eps ...*hookd.Endpoint) (*hookd.Event, []*hookd.Delivery) {
	f.t.Helper()
	ev := f.event(tenant, typ, t)
	ds := make([]*hookd.Delivery, len(eps))
	for i, ep := range eps {
		ds[i] = delivery(ev, ep)
	}
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev, Deliveries: ds}})
	if err != nil {
		f.t.Fatalf("EventInsertMany: %v", err)
	}
	if len(res) != 1 || res[0].Duplicate {
		f.t.Fatalf("EventInsertMany: got %+v, want one new event", res)
	}
	return ev, ds
}

// wantCode fails unless err carries the hookd error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := hookd.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %s), want code %s", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameTime fails unless got is want, in UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

// walk reads every page of a list with the given page size, failing on a
// loop, and returns all rows in order.
func walk[T any](t *testing.T, limit int, page func(p hookd.ListParams) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("pagination does not end")
		}
		rows, next, err := page(hookd.ListParams{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if len(rows) > limit {
			t.Fatalf("page %d has %d rows, limit %d", i, len(rows), limit)
		}
		all = append(all, rows...)
		if next == "" {
			return all
		}
		if len(rows) == 0 {
			t.Fatalf("page %d is empty but has a next cursor", i)
		}
		cursor = next
	}
}

// ids maps objects to their IDs.
func ids[T any](rows []T, id func(T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func endpointID(e *hookd.Endpoint) string { return e.ID }
func eventID(e *hookd.Event) string       { return e.ID }
func deliveryID(d *hookd.Delivery) string { return d.ID }
func attemptID(a *hookd.Attempt) string   { return a.ID }

// sameIDs fails unless got lists exactly want, in order.
func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// sameSet fails unless got and want hold the same IDs, in any order, each
// once.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\n got %v\nwant %v (any order)", what, got, want)
	}
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// deepEqual compares after the caller has checked and cleared time fields.
func deepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Fatalf("%s differs:\n got %s\nwant %s", what, gj, wj)
	}
}
