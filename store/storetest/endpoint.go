package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// sameEndpoint fails unless got is want field by field, times in UTC.
func sameEndpoint(t *testing.T, got, want *hookd.Endpoint) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	if len(got.Secrets) != len(want.Secrets) {
		t.Fatalf("%d secrets, want %d", len(got.Secrets), len(want.Secrets))
	}
	for i := range want.Secrets {
		sameTime(t, "Secrets.ExpiresAt", got.Secrets[i].ExpiresAt, want.Secrets[i].ExpiresAt)
		if got.Secrets[i].Value != want.Secrets[i].Value {
			t.Errorf("secret %d = %q, want %q", i, got.Secrets[i].Value, want.Secrets[i].Value)
		}
	}
	g, w := *got, *want
	g.CreatedAt, g.UpdatedAt, g.Secrets = time.Time{}, time.Time{}, nil
	w.CreatedAt, w.UpdatedAt, w.Secrets = time.Time{}, time.Time{}, nil
	deepEqual(t, "endpoint", &g, &w)
}

func testTenantCreatedOnFirstUse(t *testing.T, f *fixture) {
	tenants, next, err := f.s.TenantList(f.ctx, hookd.ListParams{})
	must(t, err)
	if len(tenants) != 0 || next != "" {
		t.Fatalf("fresh store lists tenants %v (next %q)", tenants, next)
	}
	f.endpoint("acme", at(0))
	f.publish("globex", "order.created", at(time.Second))
	f.publish("acme", "order.created", at(2*time.Second))

	tenants, next, err = f.s.TenantList(f.ctx, hookd.ListParams{})
	must(t, err)
	if next != "" {
		t.Errorf("next cursor %q on the only page", next)
	}
	sameSet(t, "tenants", ids(tenants, func(x hookd.Tenant) string { return x.ID }), []string{"acme", "globex"})
	for _, x := range tenants {
		if x.CreatedAt.IsZero() || x.CreatedAt.Location() != time.UTC {
			t.Errorf("tenant %s CreatedAt = %v, want a UTC time", x.ID, x.CreatedAt)
		}
	}
}

func testTenantListPages(t *testing.T, f *fixture) {
	var want []string
	for i := range 7 {
		id := "tenant-" + string(rune('a'+i))
		f.endpoint(id, at(time.Duration(i)*time.Second))
		want = append(want, id)
	}
	got := walk(t, 2, func(p hookd.ListParams) ([]hookd.Tenant, string, error) { return f.s.TenantList(f.ctx, p) })
	sameSet(t, "tenants walked with limit 2", ids(got, func(x hookd.Tenant) string { return x.ID }), want)

	_, _, err := f.s.TenantList(f.ctx, hookd.ListParams{Cursor: "not a cursor!"})
	wantCursorError(t, err)
}

// richEndpoint sets every field to something other than its default.
func richEndpoint(tenant string, t time.Time) *hookd.Endpoint {
	e := newEndpoint(tenant, t)
	e.URL = "https://hooks.example.com:8443/in?x=1&y=%20"
	e.Description = "orders to the ERP — ünïcode"
	e.EventTypes = []string{"order.*", "invoice.paid"}
	e.Enabled = false
	e.DisabledReason = "410 Gone"
	e.Timeout = hookd.Duration(7 * time.Second)
	e.Retry = hookd.RetryPolicy{
		Backoff: &hookd.Backoff{
			Initial:     hookd.Duration(time.Minute),
			Multiplier:  2,
			MaxDelay:    hookd.Duration(time.Hour),
			MaxAge:      hookd.Duration(72 * time.Hour),
			MaxAttempts: 12,
		},
		Jitter: 0.25,
	}
	e.Headers = map[string]string{"X-Team": "erp", "X-Empty": ""}
	e.Signature = hookd.SignatureConfig{Scheme: hookd.SchemeStripe, Header: "Acme-Signature"}
	e.MaxInFlight = 3
	e.RateLimit = 12.5
	e.Filter = `event.data.amount > 100`
	e.Body = `{"id": event.id}`
	e.UpdatedAt = t.Add(time.Microsecond)
	e.Secrets = []hookd.Secret{
		{Value: hookd.NewSecret()},
		{Value: hookd.NewSecret(), ExpiresAt: t.Add(24 * time.Hour)},
	}
	return e
}

func testEndpointRoundTrip(t *testing.T, f *fixture) {
	// Times handed over in another zone come back in UTC.
	paris := time.FixedZone("CET", 3600)
	rich := richEndpoint("acme", at(0).In(paris))
	plain := newEndpoint("acme", at(time.Second))
	plain.Retry = hookd.RetryPolicy{Schedule: []hookd.Duration{0, hookd.Duration(time.Minute), hookd.Duration(5 * time.Hour)}}
	for _, e := range []*hookd.Endpoint{rich, plain} {
		must(t, f.s.EndpointInsert(f.ctx, e))
	}
	rich.CreatedAt, rich.UpdatedAt = rich.CreatedAt.UTC(), rich.UpdatedAt.UTC()
	rich.Secrets[1].ExpiresAt = rich.Secrets[1].ExpiresAt.UTC()

	for _, want := range []*hookd.Endpoint{rich, plain} {
		got, err := f.s.EndpointGet(f.ctx, "acme", want.ID)
		must(t, err)
		sameEndpoint(t, got, want)
	}
	all, err := f.s.EndpointListAll(f.ctx, "acme")
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("EndpointListAll: %d endpoints, want 2", len(all))
	}
	for _, got := range all {
		want := rich
		if got.ID == plain.ID {
			want = plain
		}
		sameEndpoint(t, got, want)
	}
	list, _, err := f.s.EndpointList(f.ctx, hookd.EndpointListParams{Tenant: "acme"})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("EndpointList: %d endpoints, want 2", len(list))
	}
	sameEndpoint(t, list[0], plain)
	sameEndpoint(t, list[1], rich)

	_, err = f.s.EndpointGet(f.ctx, "acme", "ep_nonexistent")
	wantCode(t, err, hookd.ENOTFOUND)
}

func testEndpointInsertDuplicate(t *testing.T, f *fixture) {
	e := f.endpoint("acme", at(0))
	again := newEndpoint("acme", at(time.Second))
	again.ID = e.ID
	wantCode(t, f.s.EndpointInsert(f.ctx, again), hookd.EDUPLICATE)
	got, err := f.s.EndpointGet(f.ctx, "acme", e.ID)
	must(t, err)
	sameEndpoint(t, got, e)
}

func testEndpointUpdate(t *testing.T, f *fixture) {
	e := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(time.Second))

	u := richEndpoint("acme", at(time.Hour))
	u.ID, u.CreatedAt = e.ID, e.CreatedAt
	must(t, f.s.EndpointUpdate(f.ctx, u))
	got, err := f.s.EndpointGet(f.ctx, "acme", e.ID)
	must(t, err)
	sameEndpoint(t, got, u)

	// Back to a plain one: every field is replaced, none merged.
	p := newEndpoint("acme", at(0))
	p.ID, p.UpdatedAt = e.ID, at(2*time.Hour)
	must(t, f.s.EndpointUpdate(f.ctx, p))
	got, err = f.s.EndpointGet(f.ctx, "acme", e.ID)
	must(t, err)
	sameEndpoint(t, got, p)

	// The other endpoint is untouched.
	got, err = f.s.EndpointGet(f.ctx, "acme", other.ID)
	must(t, err)
	sameEndpoint(t, got, other)

	missing := newEndpoint("acme", at(0))
	wantCode(t, f.s.EndpointUpdate(f.ctx, missing), hookd.ENOTFOUND)
}

func testEndpointList(t *testing.T, f *fixture) {
	var want []string
	for i := range 50 {
		want = append(want, f.endpoint("acme", at(time.Duration(i)*time.Second)).ID)
	}
	f.endpoint("globex", at(time.Hour))
	want = reversed(want) // newest first

	page := func(p hookd.ListParams) ([]*hookd.Endpoint, string, error) {
		return f.s.EndpointList(f.ctx, hookd.EndpointListParams{ListParams: p, Tenant: "acme"})
	}
	sameIDs(t, "endpoints walked with limit 7", ids(walk(t, 7, page), endpointID), want)
	sameIDs(t, "endpoints in one page", ids(walk(t, 1000, page), endpointID), want)

	// Rows inserted between pages neither repeat nor push rows out.
	first, next, err := page(hookd.ListParams{Limit: 7})
	must(t, err)
	for i := range 3 {
		f.endpoint("acme", at(time.Minute+time.Duration(i)*time.Second))
	}
	rest := walk(t, 7, func(p hookd.ListParams) ([]*hookd.Endpoint, string, error) {
		if p.Cursor == "" {
			p.Cursor = next
		}
		return page(p)
	})
	sameIDs(t, "endpoints walked while inserting", ids(append(first, rest...), endpointID), want)

	_, _, err = page(hookd.ListParams{Cursor: "%%%"})
	wantCursorError(t, err)
	empty, next, err := f.s.EndpointList(f.ctx, hookd.EndpointListParams{Tenant: "nobody"})
	must(t, err)
	if len(empty) != 0 || next != "" {
		t.Errorf("unknown tenant lists %d endpoints (next %q)", len(empty), next)
	}
}

func testEndpointListAll(t *testing.T, f *fixture) {
	var want []string
	for i := range 30 {
		want = append(want, f.endpoint("acme", at(time.Duration(i)*time.Second)).ID)
	}
	gone := f.endpoint("acme", at(time.Hour))
	must(t, f.s.EndpointDelete(f.ctx, "acme", gone.ID, at(2*time.Hour)))
	f.endpoint("globex", at(0))
	all, err := f.s.EndpointListAll(f.ctx, "acme")
	must(t, err)
	sameSet(t, "EndpointListAll", ids(all, endpointID), want)
	none, err := f.s.EndpointListAll(f.ctx, "nobody")
	must(t, err)
	if len(none) != 0 {
		t.Errorf("unknown tenant has %d endpoints", len(none))
	}
}

func testEndpointDelete(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	keep := f.endpoint("acme", at(0))
	_, ds1 := f.publish("acme", "order.created", at(time.Second), ep, keep)
	_, ds2 := f.publish("acme", "order.created", at(2*time.Second), ep)

	// ds1[0] is attempted and succeeds before the delete: its history stays.
	claims, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{
		Owner: "n1", Now: at(time.Second), LeaseUntil: at(time.Minute), Max: 1, EndpointID: ep.ID,
	})
	must(t, err)
	if len(claims) != 1 || claims[0].Delivery.ID != ds1[0].ID {
		t.Fatalf("claimed %v, want %s", claims, ds1[0].ID)
	}
	att := attempt(claims[0].Delivery, 1, at(time.Second), hookd.OutcomeSucceeded)
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: att, State: hookd.StateSucceeded, LeaseOwner: "n1"}}))
	// ds2[0] is in flight when the endpoint goes.
	claims, err = f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{
		Owner: "n1", Now: at(3 * time.Second), LeaseUntil: at(time.Minute), Max: 10, EndpointID: ep.ID,
	})
	must(t, err)
	if len(claims) != 1 || claims[0].Delivery.ID != ds2[0].ID {
		t.Fatalf("claimed %v, want %s", claims, ds2[0].ID)
	}

	wantCode(t, f.s.EndpointDelete(f.ctx, "globex", ep.ID, at(time.Hour)), hookd.ENOTFOUND)
	must(t, f.s.EndpointDelete(f.ctx, "acme", ep.ID, at(time.Hour)))

	_, err = f.s.EndpointGet(f.ctx, "acme", ep.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	wantCode(t, f.s.EndpointDelete(f.ctx, "acme", ep.ID, at(2*time.Hour)), hookd.ENOTFOUND)
	wantCode(t, f.s.EndpointUpdate(f.ctx, ep), hookd.ENOTFOUND)
	list, _, err := f.s.EndpointList(f.ctx, hookd.EndpointListParams{Tenant: "acme"})
	must(t, err)
	sameIDs(t, "EndpointList after delete", ids(list, endpointID), []string{keep.ID})
	all, err := f.s.EndpointListAll(f.ctx, "acme")
	must(t, err)
	sameIDs(t, "EndpointListAll after delete", ids(all, endpointID), []string{keep.ID})

	// History stays: the succeeded delivery and its attempt; the pending
	// (even leased) one is cancelled; the other endpoint's is untouched.
	d, err := f.s.DeliveryGet(f.ctx, "acme", ds1[0].ID)
	must(t, err)
	if d.State != hookd.StateSucceeded {
		t.Errorf("succeeded delivery is %s after its endpoint's delete", d.State)
	}
	atts, _, err := f.s.AttemptListByDelivery(f.ctx, "acme", ds1[0].ID, hookd.ListParams{})
	must(t, err)
	sameIDs(t, "attempts kept", ids(atts, attemptID), []string{att.ID})
	d, err = f.s.DeliveryGet(f.ctx, "acme", ds2[0].ID)
	must(t, err)
	if d.State != hookd.StateCancelled || !d.NextAttemptAt.IsZero() || d.LeaseOwner != "" {
		t.Errorf("pending delivery after delete: state %s, next %v, lease %q; want cancelled, zero, none", d.State, d.NextAttemptAt, d.LeaseOwner)
	}
	sameTime(t, "cancelled UpdatedAt", d.UpdatedAt, at(time.Hour))
	d, err = f.s.DeliveryGet(f.ctx, "acme", ds1[1].ID)
	must(t, err)
	if d.State != hookd.StatePending {
		t.Errorf("other endpoint's delivery is %s, want pending", d.State)
	}

	// The in-flight attempt's outcome no longer revives the delivery.
	late := attempt(claims[0].Delivery, 1, at(4*time.Second), hookd.OutcomeHTTPError)
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: late, State: hookd.StatePending, NextAttemptAt: at(time.Minute), LeaseOwner: "n1"}}))
	d, err = f.s.DeliveryGet(f.ctx, "acme", ds2[0].ID)
	must(t, err)
	if d.State != hookd.StateCancelled {
		t.Errorf("cancelled delivery became %s after a late outcome", d.State)
	}
	// Nothing of the deleted endpoint is claimable.
	claims, err = f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: at(24 * time.Hour), LeaseUntil: at(25 * time.Hour), Max: 100})
	must(t, err)
	sameIDs(t, "claimable after delete", ids(claimDeliveries(claims), deliveryID), []string{ds1[1].ID})
}

func testEndpointTenantIsolation(t *testing.T, f *fixture) {
	e := f.endpoint("acme", at(0))
	_, err := f.s.EndpointGet(f.ctx, "globex", e.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	u := *e
	u.Tenant, u.Description = "globex", "hijacked"
	wantCode(t, f.s.EndpointUpdate(f.ctx, &u), hookd.ENOTFOUND)
	wantCode(t, f.s.EndpointDelete(f.ctx, "globex", e.ID, at(time.Hour)), hookd.ENOTFOUND)
	list, _, err := f.s.EndpointList(f.ctx, hookd.EndpointListParams{Tenant: "globex"})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("globex lists acme's endpoints: %v", ids(list, endpointID))
	}
	all, err := f.s.EndpointListAll(f.ctx, "globex")
	must(t, err)
	if len(all) != 0 {
		t.Errorf("globex lists acme's endpoints: %v", ids(all, endpointID))
	}
	got, err := f.s.EndpointGet(f.ctx, "acme", e.ID)
	must(t, err)
	sameEndpoint(t, got, e)
}

// wantCursorError fails unless err is EINVALID naming the field "cursor".
func wantCursorError(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, hookd.EINVALID)
	var he *hookd.Error
	if !asError(err, &he) || !slices.ContainsFunc(he.Fields, func(f hookd.FieldError) bool { return f.Field == "cursor" }) {
		t.Fatalf("error %v does not name the field cursor", err)
	}
}
