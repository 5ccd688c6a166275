package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

type replayAnswer struct {
	ID         string    `json:"id"`
	Count      int64     `json:"count"`
	DryRun     bool      `json:"dry_run"`
	Until      time.Time `json:"until"`
	Status     string    `json:"status"`
	EventTypes []string  `json:"event_types"`
}

// failAll publishes n events to a new endpoint of acme whose receiver
// answers 500 to them, once each, and waits until all n deliveries failed.
func failAll(t *testing.T, n *node, count int, extra ...string) (*hookd.Endpoint, *hookdtest.Receiver) {
	t.Helper()
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	ep := n.endpoint("acme", endpointBody(r.URL, extra...))
	n.publish("acme", "order.created", count)
	r.Wait(count)
	n.waitSettled(ep)
	if got := n.deliveries("acme", hookd.StateFailed); got != count {
		t.Fatalf("%d of %d deliveries failed", got, count)
	}
	return ep, r
}

// A replay of 1,000 failed deliveries: its progress shows on GET as the
// endpoint answers, a cancel stops it, and a second replay finishes the
// rest.
func TestReplayProgressAndCancel(t *testing.T) {
	n := newNode(t, nil, nil)
	ep, r := failAll(t, n, 1000, `, "max_in_flight": 64`)
	if got := r.Count(); got != 1000 {
		t.Fatalf("%d requests, want 1000", got)
	}
	g := newGate(t, r)
	path := "/v1/tenants/acme/endpoints/" + ep.ID + "/replay"

	// A dry run counts and stores nothing.
	var dry replayAnswer
	n.call("POST", path, map[string]any{"dry_run": true}, http.StatusAccepted, &dry)
	if dry.ID != "" || dry.Count != 1000 || !dry.DryRun || dry.Status != "failed" {
		t.Fatalf("dry run: %+v", dry)
	}
	var list struct{ Data []hookd.Replay }
	n.call("GET", "/v1/tenants/acme/replays", nil, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Fatalf("a dry run stored %d replays", len(list.Data))
	}

	// An empty body: every failed delivery up to now.
	var created replayAnswer
	n.call("POST", path, nil, http.StatusAccepted, &created)
	if created.ID == "" || created.Count != 1000 {
		t.Fatalf("replay: %+v", created)
	}
	// Done rises as the endpoint lets requests through, and no further.
	for _, want := range []int64{200, 500} {
		g.let(int(want) - int(n.replay("acme", created.ID).Done))
		eventually(t, 30*time.Second, func() bool { return n.replay("acme", created.ID).Done == want },
			func() string { return fmt.Sprintf("replay: %+v, want done %d", n.replay("acme", created.ID), want) })
		rp := n.replay("acme", created.ID)
		if rp.State != hookd.ReplayRunning || rp.Succeeded != want || rp.Failed != 0 || rp.Total != 1000 {
			t.Fatalf("replay at %d: %+v", want, rp)
		}
	}
	// The lane never held more than the endpoint's max_in_flight.
	if _, peak := r.Concurrency(); peak > 64 {
		t.Errorf("%d requests at once, max_in_flight is 64", peak)
	}

	var cancelled hookd.Replay
	n.call("POST", "/v1/tenants/acme/replays/"+created.ID+"/cancel", nil, http.StatusOK, &cancelled)
	if cancelled.State != hookd.ReplayCancelled || cancelled.Done != 500 || cancelled.FinishedAt.IsZero() {
		t.Fatalf("cancelled: %+v", cancelled)
	}
	// What was fed goes out, uncounted; nothing more is fed.
	g.release()
	n.waitSettled(ep)
	replayed := r.Count() - 1000
	if replayed < 500 || replayed > 500+256 {
		t.Fatalf("%d requests of the cancelled replay, want 500 plus at most one window (256)", replayed)
	}
	if rp := n.replay("acme", created.ID); rp.Done != 500 || rp.State != hookd.ReplayCancelled {
		t.Fatalf("after the cancel: %+v", rp)
	}
	n.call("POST", "/v1/tenants/acme/replays/"+created.ID+"/cancel", nil, http.StatusOK, nil)

	// A second replay takes the rest, exactly, and completes.
	left := n.deliveries("acme", hookd.StateFailed)
	if left != 1000-replayed {
		t.Fatalf("%d deliveries failed, want %d", left, 1000-replayed)
	}
	var second replayAnswer
	n.call("POST", path, map[string]any{"status": "failed", "event_types": []string{"order.*"}}, http.StatusAccepted, &second)
	if second.Count != int64(left) {
		t.Fatalf("second replay counts %d, want %d", second.Count, left)
	}
	eventually(t, 30*time.Second, func() bool { return n.replay("acme", second.ID).State == hookd.ReplayCompleted },
		func() string { return fmt.Sprintf("second replay: %+v", n.replay("acme", second.ID)) })
	rp := n.replay("acme", second.ID)
	if rp.Total != int64(left) || rp.Done != int64(left) || rp.Succeeded != int64(left) || rp.Failed != 0 || rp.FinishedAt.IsZero() {
		t.Fatalf("completed: %+v, want %d done and succeeded", rp, left)
	}
	if got := n.deliveries("acme", hookd.StateSucceeded); got != 1000 {
		t.Fatalf("%d deliveries succeeded, want all 1000", got)
	}
	n.call("POST", "/v1/tenants/acme/replays/"+second.ID+"/cancel", nil, http.StatusConflict, nil)
	if got := r.Count(); got != 2000 {
		t.Errorf("%d requests in all, want each event once failed and once replayed", got)
	}

	// The list shows both, newest first, and only for this endpoint.
	n.call("GET", "/v1/tenants/acme/replays?endpoint_id="+ep.ID, nil, http.StatusOK, &list)
	if len(list.Data) != 2 || list.Data[0].ID != second.ID || list.Data[1].ID != created.ID {
		t.Fatalf("replays: %+v", list.Data)
	}
}

// A replay survives a restart: the new process resumes it from its
// stored cursor and counters instead of starting again.
func TestReplayResumesAfterRestart(t *testing.T) {
	n := newNode(t, nil, nil)
	ep, r := failAll(t, n, 300)
	r.SetDefault(hookdtest.Response{Status: http.StatusOK})
	// Paced at 100 requests a second, the replay takes about 3 seconds.
	n.call("PATCH", "/v1/tenants/acme/endpoints/"+ep.ID, map[string]any{"rate_limit": 100}, http.StatusOK, nil)
	var created replayAnswer
	// "all": a replay started again from the beginning would send the
	// deliveries that succeeded before the restart a second time.
	n.call("POST", "/v1/tenants/acme/endpoints/"+ep.ID+"/replay", map[string]any{"status": "all"}, http.StatusAccepted, &created)
	if created.Count != 300 {
		t.Fatalf("replay counts %d, want 300", created.Count)
	}
	eventually(t, 30*time.Second, func() bool { return n.replay("acme", created.ID).Done >= 50 },
		func() string { return fmt.Sprintf("replay: %+v", n.replay("acme", created.ID)) })

	n.restart()
	before := n.replay("acme", created.ID)
	if before.State != hookd.ReplayRunning || before.Done < 50 || before.Done >= 300 {
		t.Fatalf("after the restart: %+v, want running and part done", before)
	}
	eventually(t, 30*time.Second, func() bool { return n.replay("acme", created.ID).State == hookd.ReplayCompleted },
		func() string { return fmt.Sprintf("replay: %+v", n.replay("acme", created.ID)) })
	rp := n.replay("acme", created.ID)
	if rp.Total != 300 || rp.Done != 300 || rp.Succeeded != 300 {
		t.Fatalf("completed: %+v", rp)
	}
	// Each event went out once more, give or take what the stop cut short.
	perEvent := map[string]int{}
	for _, q := range r.Requests()[300:] {
		perEvent[q.Header.Get("Webhook-Id")]++
	}
	if len(perEvent) != 300 {
		t.Fatalf("%d events replayed, want 300", len(perEvent))
	}
	if extra := r.Count() - 600; extra > 16 {
		t.Fatalf("%d requests beyond one per event: the replay started over", extra)
	}
}

// Bad replay requests are 4xx and store nothing.
func TestReplayBadInput(t *testing.T) {
	n := newNode(t, nil, nil)
	ep := n.endpoint("acme", endpointBody("https://example.com/hooks"))
	path := "/v1/tenants/acme/endpoints/" + ep.ID + "/replay"
	for _, tc := range []struct {
		body any
		want int
	}{
		{map[string]any{"status": "pending"}, http.StatusUnprocessableEntity},
		{map[string]any{"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, http.StatusUnprocessableEntity},
		{map[string]any{"since": "yesterday"}, http.StatusUnprocessableEntity},
		{map[string]any{"event_types": []string{"no spaces"}}, http.StatusUnprocessableEntity},
		{map[string]any{"limit": 5}, http.StatusUnprocessableEntity},
		{"[1]", http.StatusBadRequest},
	} {
		n.call("POST", path, tc.body, tc.want, nil)
	}
	n.call("POST", "/v1/tenants/acme/endpoints/ep_nope/replay", nil, http.StatusNotFound, nil)
	n.call("POST", "/v1/tenants/globex/endpoints/"+ep.ID+"/replay", nil, http.StatusNotFound, nil)
	n.call("GET", "/v1/tenants/acme/replays/rpl_nope", nil, http.StatusNotFound, nil)
	n.call("POST", "/v1/tenants/acme/replays/rpl_nope/cancel", nil, http.StatusNotFound, nil)
	var list struct{ Data []hookd.Replay }
	n.call("GET", "/v1/tenants/acme/replays", nil, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Fatalf("bad requests stored %d replays", len(list.Data))
	}
}

// A replay does not hold up fresh events: they go out before the
// replayed deliveries waiting in the endpoint's lane.
func TestReplayLeavesFreshEventsFirst(t *testing.T) {
	n := newNode(t, nil, nil)
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	ep := n.endpoint("acme", endpointBody(r.URL, `, "max_in_flight": 1`))
	const failed = 20
	n.publish("acme", "order.created", failed)
	r.Wait(failed)
	n.waitSettled(ep)
	g := newGate(t, r)

	var created replayAnswer
	n.call("POST", "/v1/tenants/acme/endpoints/"+ep.ID+"/replay", nil, http.StatusAccepted, &created)
	// The first replayed request, held at the gate. (Receiver.Wait hears
	// of a request when its handler returns: count instead.)
	arrived := func(k int) {
		eventually(t, 30*time.Second, func() bool { return r.Count() >= k },
			func() string { return fmt.Sprintf("%d of %d requests", r.Count(), k) })
	}
	arrived(failed + 1)
	n.call("POST", "/v1/tenants/acme/events", map[string]any{"type": "fresh.event", "data": 1}, http.StatusAccepted, nil)
	// The lane picks a retry every fourth pick at most: the fresh event
	// is among the next two requests.
	g.let(3)
	arrived(failed + 3)
	reqs := r.Requests()[:failed+3]
	fresh := -1
	for i, q := range reqs[failed:] {
		if strings.Contains(string(q.Body), `"fresh.event"`) {
			fresh = i
		}
	}
	if fresh < 1 || fresh > 2 {
		t.Fatalf("the fresh event came %d-th after the replay began (-1: not yet), want 1st or 2nd", fresh)
	}
	g.release()
	eventually(t, 30*time.Second, func() bool { return n.replay("acme", created.ID).State == hookd.ReplayCompleted },
		func() string { return fmt.Sprintf("replay: %+v", n.replay("acme", created.ID)) })
}
