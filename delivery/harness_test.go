package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v81/github"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// harness is one engine on a fresh SQLite file, with the attempts it
// records observable through OnRecord.
type harness struct {
	t      testing.TB
	ctx    context.Context
	store  *observedStore
	eng    *delivery.Engine
	clock  *hookdtest.Clock // nil: the real clock
	tenant string

	mu      sync.Mutex
	recs    []hookd.AttemptRecord
	changed chan struct{}
	stopped bool
}

// observedStore is the real SQLite store with a signal after each
// retention purge, so a test can wait for one instead of sleeping.
type observedStore struct {
	*sqlite.Store
	purged chan int
	// claimed receives the size of each claim (dropped when full).
	claimed chan int
}

func (s *observedStore) DeliveryClaimMany(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	cs, err := s.Store.DeliveryClaimMany(ctx, p)
	select {
	case s.claimed <- len(cs):
	default:
	}
	return cs, err
}

func (s *observedStore) RetentionPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	n, err := s.Store.RetentionPurge(ctx, before, batch)
	select {
	case s.purged <- n:
	default:
	}
	return n, err
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

type harnessOpt func(*harness, *delivery.Options)

// withClock runs the engine on a fake clock starting at the current time
// (so that signature timestamps look fresh to verifiers).
func withClock() harnessOpt {
	return func(h *harness, o *delivery.Options) {
		h.clock = hookdtest.NewClock(time.Now().UTC().Truncate(time.Second))
		o.Now, o.NewTimer = h.clock.Now, h.clock.NewTimer
	}
}

func withOptions(f func(*delivery.Options)) harnessOpt {
	return func(_ *harness, o *delivery.Options) { f(o) }
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, store: &observedStore{Store: st, purged: make(chan int, 100), claimed: make(chan int, 1000)}, tenant: "acme", changed: make(chan struct{})}
	o := delivery.Options{
		AllowNetworks: loopback,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnRecord:      h.onRecord,
	}
	if testing.Verbose() {
		o.Logger = hookdtest.Logger(t, slog.LevelDebug)
	}
	for _, f := range opts {
		f(h, &o)
	}
	h.eng = delivery.New(h.store, o)
	if err := h.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.stop(5 * time.Second)
		st.Close()
	})
	return h
}

// insertPending stores events "old-0" to "old-<n-1>", each with one
// pending delivery to ep due now, as a stopped engine leaves a backlog.
func (h *harness) insertPending(ep *hookd.Endpoint, n int) {
	h.t.Helper()
	now := time.Now().UTC()
	var ins []hookd.EventInsert
	for i := range n {
		ev := &hookd.Event{ID: "old-" + strconv.Itoa(i), Tenant: h.tenant, Type: "order.created", Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now}
		ins = append(ins, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{{
			ID: hookd.NewID(hookd.PrefixDelivery), Tenant: h.tenant, EventID: ev.ID, EventType: ev.Type, EndpointID: ep.ID,
			State: hookd.StatePending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		}}})
	}
	_, err := h.store.EventInsertMany(h.ctx, ins)
	must(h.t, err)
}

// successor starts another engine on h's store, as after a restart; o's
// network, recording and logging are the harness's.
func (h *harness) successor(o delivery.Options) *harness {
	h.t.Helper()
	h2 := &harness{t: h.t, ctx: h.ctx, store: h.store, tenant: h.tenant, changed: make(chan struct{})}
	o.AllowNetworks, o.OnRecord, o.Logger = loopback, h2.onRecord, quietLogger()
	h2.eng = delivery.New(h.store, o)
	must(h.t, h2.eng.Start(h.ctx))
	h.t.Cleanup(func() { h2.stop(5 * time.Second) })
	return h2
}

func (h *harness) stop(grace time.Duration) error {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil
	}
	h.stopped = true
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return h.eng.Stop(ctx)
}

func (h *harness) onRecord(recs []hookd.AttemptRecord) {
	h.mu.Lock()
	h.recs = append(h.recs, recs...)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// waitRecords blocks until n attempts were recorded and returns them in
// the order recorded.
func (h *harness) waitRecords(n int) []hookd.AttemptRecord {
	h.t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		got, ch := len(h.recs), h.changed
		if got >= n {
			out := append([]hookd.AttemptRecord(nil), h.recs[:n]...)
			h.mu.Unlock()
			return out
		}
		h.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			h.t.Fatalf("%d of %d attempts recorded", got, n)
		}
	}
}

func (h *harness) records() []hookd.AttemptRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookd.AttemptRecord(nil), h.recs...)
}

// endpoint stores an enabled endpoint of the harness's tenant for url,
// subscribed to everything, with one secret and a one-attempt policy
// unless mods say otherwise.
func (h *harness) endpoint(url string, mods ...func(*hookd.Endpoint)) *hookd.Endpoint {
	h.t.Helper()
	now := time.Now().UTC()
	if h.clock != nil {
		now = h.clock.Now()
	}
	ep := &hookd.Endpoint{
		ID:        hookd.NewID(hookd.PrefixEndpoint),
		Tenant:    h.tenant,
		URL:       url,
		Enabled:   true,
		Timeout:   hookd.Duration(5 * time.Second),
		Retry:     hookd.RetryPolicy{Schedule: []hookd.Duration{}},
		Secrets:   []hookd.Secret{{Value: hookd.NewSecret()}},
		CreatedAt: now,
		UpdatedAt: now,
	}
	ep.Normalize()
	for _, m := range mods {
		m(ep)
	}
	if err := h.store.EndpointInsert(h.ctx, ep); err != nil {
		h.t.Fatal(err)
	}
	h.eng.EndpointChanged(h.tenant)
	return ep
}

// update stores a changed endpoint and tells the engine.
func (h *harness) update(ep *hookd.Endpoint) {
	h.t.Helper()
	ep.UpdatedAt = time.Now().UTC()
	if err := h.store.EndpointUpdate(h.ctx, ep); err != nil {
		h.t.Fatal(err)
	}
	h.eng.EndpointChanged(ep.Tenant)
}

// publish publishes one event of type typ with data.
func (h *harness) publish(typ string, data any) hookd.PublishResult {
	h.t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		h.t.Fatal(err)
	}
	res, err := h.eng.Publish(h.ctx, h.tenant, []hookd.EventInput{{Type: typ, Data: b}})
	if err != nil {
		h.t.Fatalf("Publish: %v", err)
	}
	return res[0]
}

func (h *harness) deliveries(eventID string) []*hookd.Delivery {
	h.t.Helper()
	ds, _, err := h.store.DeliveryList(h.ctx, hookd.DeliveryListParams{Tenant: h.tenant, EventID: eventID, ListParams: hookd.ListParams{Limit: 1000}})
	if err != nil {
		h.t.Fatal(err)
	}
	return ds
}

func (h *harness) delivery(eventID string) *hookd.Delivery {
	h.t.Helper()
	ds := h.deliveries(eventID)
	if len(ds) != 1 {
		h.t.Fatalf("event %s has %d deliveries, want 1", eventID, len(ds))
	}
	return ds[0]
}

func (h *harness) attempts(deliveryID string) []*hookd.Attempt {
	h.t.Helper()
	as, _, err := h.store.AttemptListByDelivery(h.ctx, h.tenant, deliveryID, hookd.ListParams{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

func schedule(ds ...time.Duration) hookd.RetryPolicy {
	p := hookd.RetryPolicy{Schedule: []hookd.Duration{}}
	for _, d := range ds {
		p.Schedule = append(p.Schedule, hookd.Duration(d))
	}
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func stripeValidate(body []byte, header, secret string) error {
	return webhook.ValidatePayloadWithTolerance(body, header, secret, 5*time.Minute)
}

func githubValidate(sig string, body []byte, secret string) error {
	return github.ValidateSignature(sig, body, []byte(secret))
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func asError(err error, target **hookd.Error) bool { return errors.As(err, target) }

// testLogger logs to t with -v, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return hookdtest.Logger(t, slog.LevelDebug)
	}
	return quietLogger()
}
