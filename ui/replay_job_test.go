package ui

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// With the delivery engine's replay jobs, "Replay failed" counts with a
// dry run and starts a job on confirmation, whatever the number of
// deliveries: nothing is redelivered inside the request.
func TestReplayStartsJob(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.engine = func(t *testing.T, s hookd.Store) hookd.Engine { return startEngine(t, s, nil) }
	})
	e.ui.replayMax = 2 // the bound of replays done in the request no longer applies
	ep := e.endpoint("acme", "https://acme.example/hooks")
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	for i := range 3 {
		e.deliver(ep, seed{at: base.Add(time.Duration(10+i) * time.Minute), outcomes: []hookd.Outcome{hookd.OutcomeHTTPError}, statuses: []int{500}})
	}
	e.deliver(ep, seed{at: base, outcomes: []hookd.Outcome{hookd.OutcomeHTTPError}, statuses: []int{500}}) // before the range
	c := e.client(t)
	c.signIn(e.adminKey())
	c.get("/ui/t/acme/endpoints/" + ep.ID)
	form := url.Values{"since": {formatFormTime(base.Add(5 * time.Minute))}, "until": {formatFormTime(base.Add(time.Hour))}}
	replay := "/ui/t/acme/endpoints/" + ep.ID + "/replay"

	c.want(c.post(replay, form), http.StatusOK, `<strong id="replay-count">3</strong>`, "Redeliver 3")
	list, _, err := e.store.ReplayList(e.ctx, hookd.ReplayListParams{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("counting stored %d replays", len(list))
	}
	form.Set("confirm", "yes")
	r := c.post(replay, form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirm: %d\n%s", r.status, r.body)
	}
	c.want(c.get(r.loc), http.StatusOK, "Replay started for 3 failed deliveries")
	list, _, err = e.store.ReplayList(e.ctx, hookd.ReplayListParams{Tenant: "acme", EndpointID: ep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Total != 3 || list[0].Status != hookd.ReplayStatusFailed ||
		!list[0].Since.Equal(base.Add(5*time.Minute)) || !list[0].Until.Equal(base.Add(time.Hour)) {
		t.Fatalf("replays: %+v, want one job of the 3 in the range", list)
	}
}
