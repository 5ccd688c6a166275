package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The API's answers, decoded with the domain types they are made of.
type (
	endpointWithSecret struct {
		hookd.Endpoint
		Secret string `json:"secret"`
	}
	publishedEvent struct {
		hookd.Event
		DeliveryCount int  `json:"delivery_count"`
		Duplicate     bool `json:"duplicate"`
	}
	secretView struct {
		Secret   string         `json:"secret"`
		Previous []hookd.Secret `json:"previous"`
	}
	apiKeyWithSecret struct {
		hookd.APIKey
		Key string `json:"key"`
	}
	page[T any] struct {
		Data       []T    `json:"data"`
		NextCursor string `json:"next_cursor"`
	}
	problem struct {
		Type   string             `json:"type"`
		Title  string             `json:"title"`
		Status int                `json:"status"`
		Detail string             `json:"detail"`
		Errors []hookd.FieldError `json:"errors"`
	}
)

// obj is a JSON object for request bodies.
type obj = map[string]any

// createEndpoint creates an endpoint for tenant from body and returns it
// with its secret.
func (s *server) createEndpoint(tenant string, body obj) endpointWithSecret {
	s.t.Helper()
	var e endpointWithSecret
	s.must(http.StatusCreated, "POST", "/v1/tenants/"+tenant+"/endpoints", body, &e)
	if e.ID == "" || e.Secret == "" {
		s.t.Fatalf("created endpoint without id or secret: %+v", e)
	}
	return e
}

// publish publishes one event and fails the test unless it is accepted
// (202) as new.
func (s *server) publish(tenant string, body obj) publishedEvent {
	s.t.Helper()
	var ev publishedEvent
	s.must(http.StatusAccepted, "POST", "/v1/tenants/"+tenant+"/events", body, &ev)
	return ev
}

// deliveries lists one page of tenant's deliveries filtered by query.
func (s *server) deliveries(tenant string, query url.Values) page[hookd.Delivery] {
	s.t.Helper()
	var p page[hookd.Delivery]
	s.must(http.StatusOK, "GET", "/v1/tenants/"+tenant+"/deliveries?"+query.Encode(), nil, &p)
	return p
}

// deliveryOf returns the one delivery of event id (there is one endpoint).
func (s *server) deliveryOf(tenant, eventID string) hookd.Delivery {
	s.t.Helper()
	p := s.deliveries(tenant, url.Values{"event_id": {eventID}})
	if len(p.Data) != 1 {
		s.t.Fatalf("event %s has %d deliveries, want 1: %+v", eventID, len(p.Data), p.Data)
	}
	return p.Data[0]
}

// waitDelivery polls until the delivery of event id is in state want and
// returns it.
func (s *server) waitDelivery(tenant, eventID string, want hookd.DeliveryState, timeout time.Duration) hookd.Delivery {
	s.t.Helper()
	var d hookd.Delivery
	eventually(s.t, timeout, fmt.Sprintf("the delivery of %s is %s", eventID, want), func() bool {
		d = s.deliveryOf(tenant, eventID)
		return d.State == want
	})
	return d
}

// waitAttempts polls until the delivery has at least n attempts recorded
// and returns them, oldest first.
func (s *server) waitAttempts(tenant, deliveryID string, n int, timeout time.Duration) []hookd.Attempt {
	s.t.Helper()
	var atts []hookd.Attempt
	eventually(s.t, timeout, fmt.Sprintf("delivery %s has %d attempts", deliveryID, n), func() bool {
		atts = s.attempts(tenant, deliveryID)
		return len(atts) >= n
	})
	return atts
}

// attempts lists the attempts of a delivery, oldest first.
func (s *server) attempts(tenant, deliveryID string) []hookd.Attempt {
	s.t.Helper()
	var p page[hookd.Attempt]
	s.must(http.StatusOK, "GET", "/v1/tenants/"+tenant+"/deliveries/"+deliveryID+"/attempts?limit=1000", nil, &p)
	return p.Data
}

// firstAttempt publishes an event to the endpoint at url (created with
// extra fields merged in) and returns its first recorded attempt.
func (s *server) firstAttempt(t *testing.T, tenant string, endpoint obj) hookd.Attempt {
	t.Helper()
	if _, ok := endpoint["retry"]; !ok {
		// One attempt now and the next far away, so the first stays the
		// only one while the test looks at it.
		endpoint["retry"] = obj{"schedule": []string{"1h"}}
	}
	s.createEndpoint(tenant, endpoint)
	ev := s.publish(tenant, obj{"type": "test.outcome", "data": obj{"n": 1}})
	if ev.DeliveryCount != 1 {
		t.Fatalf("delivery_count = %d, want 1", ev.DeliveryCount)
	}
	d := s.deliveryOf(tenant, ev.ID)
	return s.waitAttempts(tenant, d.ID, 1, 20*time.Second)[0]
}
