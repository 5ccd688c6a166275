package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestPublishIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.createEndpoint("acme", e.admin, map[string]any{"url": "https://example.com/a", "event_types": []string{"order.*"}})
	e.createEndpoint("acme", e.admin, map[string]any{"url": "https://example.com/b"})
	e.createEndpoint("acme", e.admin, map[string]any{"url": "https://example.com/c", "event_types": []string{"invoice.paid"}})

	body := map[string]any{"id": "ord_1", "type": "order.created", "data": map[string]any{"amount": 4200}, "occurred_at": "2024-05-01T12:00:00+02:00"}
	var first published
	e.post("/v1/tenants/acme/events", e.admin, body).want(202).into(&first)
	if first.ID != "ord_1" || first.Tenant != "acme" || first.Type != "order.created" || first.DeliveryCount != 2 || first.Duplicate ||
		string(first.Data) != `{"amount":4200}` || !first.OccurredAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("first publish %+v (%s)", first, first.Data)
	}
	// The same id again: 200, the stored event (not the new body), nothing new.
	body["data"] = map[string]any{"amount": 1}
	var again published
	e.post("/v1/tenants/acme/events", e.admin, body).want(200).into(&again)
	if again.ID != "ord_1" || !again.Duplicate || again.DeliveryCount != 0 || string(again.Data) != `{"amount":4200}` || again.Seq != first.Seq {
		t.Errorf("duplicate publish %+v (%s)", again, again.Data)
	}
	var ds list[hookd.Delivery]
	e.get("/v1/tenants/acme/deliveries?event_id=ord_1", e.admin).want(200).into(&ds)
	if len(ds.Data) != 2 {
		t.Errorf("deliveries of ord_1: %d, want 2", len(ds.Data))
	}
	// Without an id, hookd names the event.
	var anon published
	e.post("/v1/tenants/acme/events", e.admin, `{"type": "invoice.paid", "data": null}`).want(202).into(&anon)
	if !strings.HasPrefix(anon.ID, hookd.PrefixEvent+"_") || anon.DeliveryCount != 2 || string(anon.Data) != "null" {
		t.Errorf("anonymous publish %+v", anon)
	}
	var ev hookd.Event
	e.get("/v1/tenants/acme/events/ord_1", e.admin).want(200).into(&ev)
	if ev.ID != "ord_1" || string(ev.Data) != `{"amount":4200}` {
		t.Errorf("get event %+v", ev)
	}
	// Caller ids may hold characters that need escaping in a path.
	e.post("/v1/tenants/acme/events", e.admin, map[string]any{"id": "a/b?c#d%e", "type": "x", "data": 1}).want(202)
	e.get("/v1/tenants/acme/events/"+url.PathEscape("a/b?c#d%e"), e.admin).want(200).into(&ev)
	if ev.ID != "a/b?c#d%e" {
		t.Errorf("escaped id read back as %q", ev.ID)
	}
	e.get("/v1/tenants/acme/events/nope", e.admin).problem(404)
}

func TestPublishValidation(t *testing.T) {
	e := newEnv(t)
	path := "/v1/tenants/acme/events"
	for _, tc := range []struct {
		body   string
		status int
		fields []string
	}{
		{`{}`, 422, []string{"type", "data"}},
		{`{"type": "bad type!", "data": {}}`, 422, []string{"type"}},
		{`{"type": 5, "data": {}}`, 422, []string{"type"}},
		{`{"type": "a", "data": {}, "id": "has space"}`, 422, []string{"id"}},
		{`{"type": "a", "data": {}, "id": "` + strings.Repeat("x", 256) + `"}`, 422, []string{"id"}},
		{`{"type": "a", "data": {}, "occurred_at": "yesterday"}`, 422, []string{"occurred_at"}},
		{`{"type": "a", "data": {}, "extra": true}`, 422, []string{"extra"}},
		{`{"type": "a", "data": {`, 400, nil},
		{`{"type": "a", "data": {}} trailing`, 400, nil},
		{`["type"]`, 400, nil},
		{``, 400, nil},
	} {
		e.post(path, e.admin, tc.body).problem(tc.status, tc.fields...)
	}
	var l list[hookd.Event]
	e.get(path, e.admin).want(200).into(&l)
	if len(l.Data) != 0 {
		t.Errorf("refused publishes stored events: %+v", l.Data)
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	e.createEndpoint("acme", e.admin, map[string]any{"url": "https://example.com/a"})
	path := "/v1/tenants/acme/events/batch"
	bad := `{"events": [{"type": "a", "data": 1}, {"type": "b", "data": 2}, {"type": "no spaces", "data": 3}, {"type": "d"}]}`
	e.post(path, e.admin, bad).problem(422, "events[2].type", "events[3].data")
	e.post(path, e.admin, `{"events": [{"type": "a", "data": 1}, {"type": 7, "data": 2}]}`).problem(422, "events[1].type")
	e.post(path, e.admin, `{"events": []}`).problem(422, "events")
	e.post(path, e.admin, `{"events": [{"type": "a", "data": 1, "typo": 1}]}`).problem(422, "events[0].typo")
	many := make([]map[string]any, hookd.MaxBatch+1)
	for i := range many {
		many[i] = map[string]any{"type": "a", "data": i}
	}
	e.post(path, e.admin, map[string]any{"events": many}).problem(422, "events")
	var l list[hookd.Event]
	e.get("/v1/tenants/acme/events", e.admin).want(200).into(&l)
	if len(l.Data) != 0 {
		t.Fatalf("a refused batch stored %d events", len(l.Data))
	}

	e.post("/v1/tenants/acme/events", e.admin, map[string]any{"id": "known", "type": "a", "data": 0}).want(202)
	var res struct {
		Data []published `json:"data"`
	}
	e.post(path, e.admin, map[string]any{"events": []map[string]any{
		{"id": "n1", "type": "a", "data": 1}, {"id": "known", "type": "a", "data": 2}, {"type": "b", "data": 3},
	}}).want(202).into(&res)
	if len(res.Data) != 3 || res.Data[0].ID != "n1" || res.Data[0].Duplicate || res.Data[0].DeliveryCount != 1 ||
		res.Data[1].ID != "known" || !res.Data[1].Duplicate || string(res.Data[1].Data) != "0" ||
		res.Data[2].Type != "b" || res.Data[2].ID == "" {
		t.Errorf("batch results %+v", res.Data)
	}
	e.get("/v1/tenants/acme/events", e.admin).want(200).into(&l)
	if len(l.Data) != 3 {
		t.Errorf("after the batch %d events, want 3", len(l.Data))
	}
}

func TestEventListFiltersAndPagination(t *testing.T) {
	e := newEnv(t)
	const n = 7
	for i := range n {
		typ := "order.created"
		if i%2 == 1 {
			typ = "order.paid"
		}
		e.post("/v1/tenants/acme/events", e.admin, map[string]any{"id": fmt.Sprintf("e%d", i), "type": typ, "data": i}).want(202)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var l list[hookd.Event]
		e.get("/v1/tenants/acme/events?limit=3&cursor="+url.QueryEscape(cursor), e.admin).want(200).into(&l)
		pages++
		for _, ev := range l.Data {
			if seen[ev.ID] {
				t.Errorf("%s on two pages", ev.ID)
			}
			seen[ev.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		if pages > n {
			t.Fatal("pagination does not end")
		}
		cursor = l.NextCursor
	}
	if len(seen) != n || pages != 3 {
		t.Errorf("%d events over %d pages, want %d over 3", len(seen), pages, n)
	}
	var l list[hookd.Event]
	e.get("/v1/tenants/acme/events?type=order.paid", e.admin).want(200).into(&l)
	if len(l.Data) != 3 {
		t.Errorf("type filter: %d events, want 3", len(l.Data))
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.get("/v1/tenants/acme/events?since="+future, e.admin).want(200).into(&l)
	if len(l.Data) != 0 {
		t.Errorf("since the future: %d events", len(l.Data))
	}
	e.get("/v1/tenants/acme/events?until="+future+"&since=2000-01-01T00:00:00Z", e.admin).want(200).into(&l)
	if len(l.Data) != n {
		t.Errorf("since 2000 until the future: %d events", len(l.Data))
	}
	e.get("/v1/tenants/acme/events?cursor=not-a-cursor", e.admin).problem(422, "cursor")
	e.get("/v1/tenants/acme/events?limit=0", e.admin).problem(422, "limit")
	e.get("/v1/tenants/acme/events?since=yesterday", e.admin).problem(422, "since")
	e.get("/v1/tenants/acme/events?status=failed", e.admin).problem(422, "status")
}
