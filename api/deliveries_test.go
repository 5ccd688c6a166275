package api_test

import (
	"net/http"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

func TestDeliveriesAttemptsAndRetry(t *testing.T) {
	e := newEnv(t)
	ok := hookdtest.NewReceiver(t)
	ok.SetDefault(hookdtest.Response{Status: http.StatusNoContent})
	down := hookdtest.NewReceiver(t)
	down.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError, Body: "down"})
	good := e.createEndpoint("acme", e.admin, map[string]any{"url": ok.URL})
	bad := e.createEndpoint("acme", e.admin, map[string]any{"url": down.URL, "event_types": []string{"order.*"},
		"retry": map[string]any{"schedule": []string{}}}) // one attempt, then failed

	var ev published
	e.post("/v1/tenants/acme/events", e.admin, map[string]any{"id": "ord_1", "type": "order.created", "data": 1}).want(202).into(&ev)
	e.post("/v1/tenants/acme/events", e.admin, map[string]any{"id": "inv_1", "type": "invoice.paid", "data": 2}).want(202)

	var all list[hookd.Delivery]
	e.get("/v1/tenants/acme/deliveries", e.admin).want(200).into(&all)
	if len(all.Data) != 3 {
		t.Fatalf("%d deliveries, want 3", len(all.Data))
	}
	var mine list[hookd.Delivery]
	e.get("/v1/tenants/acme/deliveries?endpoint_id="+bad.ID, e.admin).want(200).into(&mine)
	if len(mine.Data) != 1 || mine.Data[0].EventID != "ord_1" || mine.Data[0].EndpointID != bad.ID {
		t.Fatalf("by endpoint %+v", mine.Data)
	}
	failedID := mine.Data[0].ID
	d := e.waitDelivery("acme", failedID, func(d hookd.Delivery) bool { return d.State == hookd.StateFailed })
	if d.Attempts != 1 || d.LastOutcome != hookd.OutcomeHTTPError || d.LastStatus != 500 {
		t.Errorf("failed delivery %+v", d)
	}
	e.get("/v1/tenants/acme/deliveries?event_type=invoice.paid", e.admin).want(200).into(&mine)
	if len(mine.Data) != 1 || mine.Data[0].EndpointID != good.ID {
		t.Errorf("by event type %+v", mine.Data)
	}
	e.waitDelivery("acme", mine.Data[0].ID, func(d hookd.Delivery) bool { return d.State == hookd.StateSucceeded })
	e.get("/v1/tenants/acme/deliveries?status=failed", e.admin).want(200).into(&mine)
	if len(mine.Data) != 1 || mine.Data[0].ID != failedID {
		t.Errorf("by status %+v", mine.Data)
	}
	e.get("/v1/tenants/acme/deliveries?event_id=ord_1&endpoint_id="+good.ID, e.admin).want(200).into(&mine)
	if len(mine.Data) != 1 || mine.Data[0].EventID != "ord_1" {
		t.Errorf("by event and endpoint %+v", mine.Data)
	}

	// Retry a failed delivery: 202, and a second attempt that retries the first.
	var r hookd.Delivery
	e.post("/v1/tenants/acme/deliveries/"+failedID+"/retry", e.admin, nil).want(202).into(&r)
	if r.ID != failedID {
		t.Errorf("retry answered %+v", r)
	}
	e.waitDelivery("acme", failedID, func(d hookd.Delivery) bool { return d.Attempts == 2 && d.State == hookd.StateFailed })
	var as list[hookd.Attempt]
	e.get("/v1/tenants/acme/deliveries/"+failedID+"/attempts", e.admin).want(200).into(&as)
	if len(as.Data) != 2 || as.Data[0].Number != 1 || as.Data[1].Number != 2 || as.Data[0].Outcome != hookd.OutcomeHTTPError {
		t.Fatalf("attempts, oldest first: %+v", as.Data)
	}
	e.get("/v1/tenants/acme/deliveries/"+failedID+"/attempts?limit=1", e.admin).want(200).into(&as)
	if len(as.Data) != 1 || as.NextCursor == "" || as.Data[0].Number != 1 {
		t.Errorf("first page of attempts %+v", as)
	}

	// Endpoint attempts: newest first, filtered by failed.
	e.get("/v1/tenants/acme/endpoints/"+bad.ID+"/attempts", e.admin).want(200).into(&as)
	if len(as.Data) != 2 || as.Data[0].Number != 2 {
		t.Errorf("endpoint attempts, newest first: %+v", as.Data)
	}
	e.get("/v1/tenants/acme/endpoints/"+bad.ID+"/attempts?failed=false", e.admin).want(200).into(&as)
	if len(as.Data) != 0 {
		t.Errorf("successful attempts of a dead endpoint: %+v", as.Data)
	}
	e.get("/v1/tenants/acme/endpoints/"+good.ID+"/attempts?failed=true", e.admin).want(200).into(&as)
	if len(as.Data) != 0 {
		t.Errorf("failed attempts of a good endpoint: %+v", as.Data)
	}
	e.get("/v1/tenants/acme/endpoints/"+good.ID+"/attempts?failed=false", e.admin).want(200).into(&as)
	if len(as.Data) != 2 {
		t.Errorf("good endpoint attempts: %+v", as.Data)
	}

	e.get("/v1/tenants/acme/deliveries/dlv_nope", e.admin).problem(404)
	e.get("/v1/tenants/acme/deliveries/dlv_nope/attempts", e.admin).problem(404)
	e.post("/v1/tenants/acme/deliveries/dlv_nope/retry", e.admin, nil).problem(404)
	e.get("/v1/tenants/acme/endpoints/ep_nope/attempts", e.admin).problem(404)
	e.get("/v1/tenants/acme/deliveries?status=lost", e.admin).problem(422, "status")
	e.get("/v1/tenants/acme/deliveries?state=failed", e.admin).problem(422, "state")
	e.get("/v1/tenants/acme/endpoints/"+good.ID+"/attempts?failed=maybe", e.admin).problem(422, "failed")
}
