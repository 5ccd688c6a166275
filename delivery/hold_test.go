package delivery_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// windowStore is the SQLite store with a hook in the gap between an
// outcome's (or a release's) commit and the return of the call to the
// engine: there it has the poller claim and dispatch once, which a busy
// node does by chance whenever a claim lands in that gap. The delivery
// just made pending (or released) is then claimed while the engine still
// holds the job that wrote it.
type windowStore struct {
	*sqlite.Store
	eng    *delivery.Engine
	tenant string
	// openOn says which writes open the window (the first of them does).
	openOn func(recs []hookd.AttemptRecord, released []string) bool
	// recorded receives the engine's outcomes once written (OnRecord).
	recorded chan hookd.AttemptRecord

	mu      sync.Mutex
	opened  bool
	claims  int           // DeliveryClaimMany calls begun
	changed chan struct{} // closed and replaced when claims grows
}

func (s *windowStore) DeliveryClaimMany(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	s.mu.Lock()
	s.claims++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return s.Store.DeliveryClaimMany(ctx, p)
}

func (s *windowStore) AttemptRecordMany(ctx context.Context, recs []hookd.AttemptRecord) error {
	if err := s.Store.AttemptRecordMany(ctx, recs); err != nil {
		return err
	}
	s.window(recs, nil)
	return nil
}

func (s *windowStore) DeliveryReleaseMany(ctx context.Context, owner string, ids []string) error {
	if err := s.Store.DeliveryReleaseMany(ctx, owner, ids); err != nil {
		return err
	}
	if ids != nil {
		s.window(nil, ids)
	}
	return nil
}

// window, the first time openOn agrees, kicks the poller and waits until
// a claim begun after the commit was dispatched: the poller is one
// goroutine, so that is when the claim after it begins.
func (s *windowStore) window(recs []hookd.AttemptRecord, released []string) {
	s.mu.Lock()
	if s.opened || !s.openOn(recs, released) {
		s.mu.Unlock()
		return
	}
	s.opened = true
	base := s.claims
	s.mu.Unlock()
	for want := base + 1; want <= base+2; want++ {
		s.eng.EndpointChanged(s.tenant) // reloads, then kicks the poller
		s.waitClaims(want)
	}
}

func (s *windowStore) waitClaims(n int) {
	for {
		s.mu.Lock()
		got, ch := s.claims, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		<-ch
	}
}

// newWindowEngine starts an engine on a fake clock over a windowStore and
// stores ep for it.
func newWindowEngine(t *testing.T, ep *hookd.Endpoint, openOn func([]hookd.AttemptRecord, []string) bool) (*delivery.Engine, *windowStore, *hookdtest.Clock) {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	clock := hookdtest.NewClock(time.Now().UTC().Truncate(time.Second))
	ws := &windowStore{Store: st, tenant: "acme", openOn: openOn, changed: make(chan struct{}), recorded: make(chan hookd.AttemptRecord, 100)}
	eng := delivery.New(ws, delivery.Options{
		AllowNetworks: loopback,
		Logger:        testLogger(t),
		Now:           clock.Now,
		NewTimer:      clock.NewTimer,
		OnRecord: func(recs []hookd.AttemptRecord) {
			for _, rec := range recs {
				ws.recorded <- rec
			}
		},
	})
	ws.eng = eng
	ep.ID, ep.Tenant, ep.Enabled = hookd.NewID(hookd.PrefixEndpoint), "acme", true
	ep.Secrets = []hookd.Secret{{Value: hookd.NewSecret()}}
	ep.CreatedAt, ep.UpdatedAt = clock.Now(), clock.Now()
	ep.Normalize()
	must(t, st.EndpointInsert(ctx, ep))
	must(t, eng.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
		st.Close()
	})
	return eng, ws, clock
}

// A retry that a claim picks up between the commit of the failed attempt
// and the engine's forgetting of that attempt's job is sent at once. It
// used to be taken for the job already held ("already queued here"), so
// the claim's lease was kept with nothing in memory to send it, and the
// retry waited for the lease to run out (the endpoint's timeout plus the
// lease margin).
func TestRetryClaimedBeforeOutcomeSettles(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: 500})
	ep := &hookd.Endpoint{URL: r.URL, Timeout: hookd.Duration(5 * time.Second), Retry: schedule(0)}
	eng, ws, _ := newWindowEngine(t, ep, func(recs []hookd.AttemptRecord, _ []string) bool {
		return len(recs) > 0 && recs[0].State == hookd.StatePending
	})
	res, err := eng.Publish(t.Context(), "acme", []hookd.EventInput{{Type: "order.created", Data: []byte(`{}`)}})
	must(t, err)

	// The fake clock stands still: no lease runs out, no sweep runs.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := r.WaitContext(ctx, 2); err != nil {
		t.Fatalf("the retry was not sent: %v", err)
	}
	waitState(t, ws, res[0].Event.ID, hookd.StateFailed, 2)
}

// Likewise a delivery handed back unsent (its lease too short to start
// the request) and claimed again before the engine forgot the job that
// handed it back.
func TestReleaseClaimedBeforeSettles(t *testing.T) {
	r := hookdtest.NewReceiver(t)
	arrived, answer := make(chan struct{}), make(chan struct{})
	r.Handle(func(q *hookdtest.Request) hookdtest.Response {
		if q.N == 1 {
			close(arrived)
			<-answer
		}
		return hookdtest.Response{}
	})
	ep := &hookd.Endpoint{URL: r.URL, Timeout: hookd.Duration(5 * time.Second), MaxInFlight: 1, Retry: schedule()}
	eng, ws, clock := newWindowEngine(t, ep, func(_ []hookd.AttemptRecord, released []string) bool {
		return len(released) > 0
	})
	res, err := eng.Publish(t.Context(), "acme", []hookd.EventInput{
		{Type: "order.created", Data: []byte(`{"n":1}`)},
		{Type: "order.created", Data: []byte(`{"n":2}`)},
	})
	must(t, err)

	// The second delivery waits in the lane behind the first, whose
	// request hangs, until too little of its lease is left to start one.
	<-arrived
	clock.Advance(30 * time.Second)
	close(answer)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := r.WaitContext(ctx, 2); err != nil {
		t.Fatalf("the released delivery was not sent: %v", err)
	}
	waitState(t, ws, res[1].Event.ID, hookd.StateSucceeded, 1)
}

// waitState waits for the outcome of event id's one delivery that leaves
// it in state, and checks that the store agrees, after n attempts.
func waitState(t *testing.T, ws *windowStore, eventID string, state hookd.DeliveryState, n int) {
	t.Helper()
	ds, _, err := ws.DeliveryList(t.Context(), hookd.DeliveryListParams{Tenant: "acme", EventID: eventID})
	must(t, err)
	if len(ds) != 1 {
		t.Fatalf("event %s has %d deliveries, want 1", eventID, len(ds))
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case rec := <-ws.recorded:
			if rec.Attempt.DeliveryID != ds[0].ID || rec.State != state {
				continue
			}
			d, err := ws.DeliveryGet(t.Context(), "acme", ds[0].ID)
			must(t, err)
			if d.State != state || d.Attempts != n {
				t.Errorf("delivery %s after %d attempts, want %s after %d", d.State, d.Attempts, state, n)
			}
			return
		case <-timeout:
			t.Fatalf("delivery of %s never %s", eventID, state)
		}
	}
}
