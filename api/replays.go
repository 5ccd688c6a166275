package api

import (
	"bytes"
	"net/http"
	"reflect"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/hookd/hookd"
)

// Replays are jobs: POST …/replay answers 202 as soon as the job is
// stored, and GET …/replays/{id} shows its progress. The engine runs them
// (hookd.Recovery); an engine without replays answers 503.

func init() {
	routes = append(routes, replayRoutes...)
	enums[reflect.TypeFor[hookd.ReplayState]()] = []string{
		string(hookd.ReplayRunning), string(hookd.ReplayCompleted), string(hookd.ReplayCancelled),
	}
}

var replayRoutes = []route{
	{id: "replayEndpoint", method: "POST", path: "/v1/tenants/{tenant}/endpoints/{id}/replay", scope: hookd.ScopeDeliveriesWrite,
		summary: "Redeliver the endpoint's past deliveries as a background job: those created in [since, until) (until defaults to now, " +
			"since to the oldest kept) whose status is failed (default) or anything but pending (all), optionally of some event types. " +
			"202 with the job's id and the number of deliveries it will redeliver; with dry_run, only the count, nothing is stored or sent. " +
			"The job feeds the endpoint a window at a time, as retries, so fresh events go first and rate_limit and max_in_flight hold",
		body: typeOf[replayBody](), bodyOptional: true, status: http.StatusAccepted, resp: typeOf[replayCreated](), serve: createReplay},
	{id: "listReplays", method: "GET", path: "/v1/tenants/{tenant}/replays", scope: hookd.ScopeDeliveriesRead,
		summary: "List replays, newest first", query: replayListParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Replay]](), serve: listReplays},
	{id: "getReplay", method: "GET", path: "/v1/tenants/{tenant}/replays/{id}", scope: hookd.ScopeDeliveriesRead,
		summary: "A replay's progress: total, done (redelivered, whatever the outcome), succeeded, failed, and state (running, completed, cancelled)",
		status:  http.StatusOK, resp: typeOf[*hookd.Replay](), serve: getReplay},
	{id: "cancelReplay", method: "POST", path: "/v1/tenants/{tenant}/replays/{id}/cancel", scope: hookd.ScopeDeliveriesWrite,
		summary: "Stop a replay: nothing more is fed to the endpoint (the window already fed is still delivered, uncounted). " +
			"Cancelling a cancelled replay answers it again; a completed one is 409",
		status: http.StatusOK, resp: typeOf[*hookd.Replay](), serve: cancelReplay},
}

var replayListParams = []param{pLimit, pCursor, {"endpoint_id", kindString, "only this endpoint's replays"}}

// replayBody asks for a replay. Every field is optional.
type replayBody struct {
	// Since and Until bound the deliveries' creation time, [since, until).
	Since *time.Time `json:"since,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	// Status is "failed" (the default) or "all" (every delivery that is
	// not pending).
	Status string `json:"status,omitempty"`
	// EventTypes are exact types or dotted prefixes ending in *.
	EventTypes []string `json:"event_types,omitempty"`
	// DryRun only counts.
	DryRun bool `json:"dry_run,omitempty"`
}

// replayCreated answers a replay request.
type replayCreated struct {
	// ID is the job's; absent for a dry run.
	ID string `json:"id,omitempty"`
	// Count is how many deliveries the replay selects now.
	Count  int64 `json:"count"`
	DryRun bool  `json:"dry_run"`
	// The window as resolved: Until is the time of the request unless
	// given.
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until"`
	Status     string    `json:"status"`
	EventTypes []string  `json:"event_types"`
}

// recovery returns the engine's replays and health, or 503 without them.
func (c *call) recovery() (hookd.Recovery, error) {
	r, ok := c.s.engine.(hookd.Recovery)
	if !ok {
		return nil, hookd.Errorf(hookd.EUNAVAILABLE, "this server's delivery engine does not run replays")
	}
	return r, nil
}

func createReplay(c *call) error {
	var b replayBody
	buf, err := c.readBody(c.s.maxBody)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	// An empty body asks for the defaults: every failed delivery.
	if len(bytes.TrimSpace(buf.Bytes())) > 0 {
		if err := decodeError(jsonv2.Unmarshal(buf.Bytes(), &b, decodeOptions)); err != nil {
			return err
		}
	}
	rc, err := c.recovery()
	if err != nil {
		return err
	}
	p := hookd.ReplayParams{Tenant: c.tenant, EndpointID: c.r.PathValue("id"), Status: b.Status, EventTypes: b.EventTypes, DryRun: b.DryRun}
	if b.Since != nil {
		p.Since = *b.Since
	}
	if b.Until != nil {
		p.Until = *b.Until
	}
	r, err := rc.ReplayStart(c.r.Context(), p)
	if err != nil {
		return err
	}
	return c.respond(http.StatusAccepted, replayCreated{
		ID: r.ID, Count: r.Total, DryRun: b.DryRun,
		Since: r.Since, Until: r.Until, Status: r.Status, EventTypes: r.EventTypes,
	})
}

func listReplays(c *call) error {
	list, next, err := c.s.store.ReplayList(c.r.Context(), hookd.ReplayListParams{
		ListParams: c.q.ListParams, Tenant: c.tenant, EndpointID: c.q.EndpointID,
	})
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(list, next))
}

func getReplay(c *call) error {
	r, err := c.s.store.ReplayGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, r)
}

func cancelReplay(c *call) error {
	r, err := c.s.store.ReplayCancel(c.r.Context(), c.tenant, c.r.PathValue("id"), c.s.now().UTC())
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, r)
}
