package api

import (
	"net/http"
	"reflect"

	"github.com/hookd/hookd"
)

// route is one row of the API: the table below builds the mux, checks
// credentials, scopes and query parameters, and generates the OpenAPI
// document, so none of them can disagree.
type route struct {
	id      string // OpenAPI operationId
	method  string
	path    string // a net/http pattern path; {tenant} is checked for every route
	scope   string // the scope the caller needs; "" for a public route
	global  bool   // only for credentials bound to no tenant
	summary string
	query   []param
	body    reflect.Type // the request body, nil for none
	// bodyOptional: an empty body is fine (it asks for the defaults).
	bodyOptional bool
	status       int          // the status of success
	resp         reflect.Type // the success body, nil for none
	// produces is the success Content-Type when it is not JSON.
	produces string
	serve    func(*call) error
}

func (rt *route) pattern() string { return rt.method + " " + rt.path }

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// routes is the API. OAuth, replays, stats and portal links add rows here.
var routes = []route{
	{id: "createEndpoint", method: "POST", path: "/v1/tenants/{tenant}/endpoints", scope: hookd.ScopeEndpointsWrite,
		summary: "Create an endpoint; the answer shows its secret, this once",
		body:    typeOf[endpointBody](), status: http.StatusCreated, resp: typeOf[endpointWithSecret](), serve: createEndpoint},
	{id: "listEndpoints", method: "GET", path: "/v1/tenants/{tenant}/endpoints", scope: hookd.ScopeEndpointsRead,
		summary: "List endpoints, newest first", query: listParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Endpoint]](), serve: listEndpoints},
	{id: "getEndpoint", method: "GET", path: "/v1/tenants/{tenant}/endpoints/{id}", scope: hookd.ScopeEndpointsRead,
		summary: "Read an endpoint (never its secret)",
		status:  http.StatusOK, resp: typeOf[*hookd.Endpoint](), serve: getEndpoint},
	{id: "updateEndpoint", method: "PATCH", path: "/v1/tenants/{tenant}/endpoints/{id}", scope: hookd.ScopeEndpointsWrite,
		summary: "Update an endpoint (JSON merge patch: absent fields stay, null resets a field to its default, retry is replaced whole)",
		body:    typeOf[endpointPatch](), status: http.StatusOK, resp: typeOf[*hookd.Endpoint](), serve: updateEndpoint},
	{id: "deleteEndpoint", method: "DELETE", path: "/v1/tenants/{tenant}/endpoints/{id}", scope: hookd.ScopeEndpointsWrite,
		summary: "Delete an endpoint and cancel its pending deliveries",
		status:  http.StatusNoContent, serve: deleteEndpoint},
	{id: "getEndpointSecret", method: "GET", path: "/v1/tenants/{tenant}/endpoints/{id}/secret", scope: hookd.ScopeEndpointsWrite,
		summary: "Reveal the signing secret and the rotated-out ones still in their grace period",
		status:  http.StatusOK, resp: typeOf[secretView](), serve: getSecret},
	{id: "rotateEndpointSecret", method: "POST", path: "/v1/tenants/{tenant}/endpoints/{id}/secret/rotate", scope: hookd.ScopeEndpointsWrite,
		summary: "Replace the signing secret; the old one keeps signing alongside until the grace ends",
		body:    typeOf[rotateBody](), bodyOptional: true, status: http.StatusOK, resp: typeOf[secretView](), serve: rotateSecret},
	{id: "pingEndpoint", method: "POST", path: "/v1/tenants/{tenant}/endpoints/{id}/ping", scope: hookd.ScopeEndpointsWrite,
		summary: "Send a hookd.ping event now and answer with the attempt",
		status:  http.StatusOK, resp: typeOf[*hookd.Attempt](), serve: pingEndpoint},
	{id: "listEndpointAttempts", method: "GET", path: "/v1/tenants/{tenant}/endpoints/{id}/attempts", scope: hookd.ScopeDeliveriesRead,
		summary: "List an endpoint's attempts, newest first", query: attemptParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Attempt]](), serve: listEndpointAttempts},

	{id: "publishEvent", method: "POST", path: "/v1/tenants/{tenant}/events", scope: hookd.ScopeEventsWrite,
		summary: "Publish an event: 202 when new, 200 with the stored event when its id is known",
		body:    typeOf[hookd.EventInput](), status: http.StatusAccepted, resp: typeOf[publishedEvent](), serve: publishEvent},
	{id: "publishEvents", method: "POST", path: "/v1/tenants/{tenant}/events/batch", scope: hookd.ScopeEventsWrite,
		summary: "Publish up to 1000 events, all or nothing; one result per event, in order",
		body:    typeOf[batchBody](), status: http.StatusAccepted, resp: typeOf[batchResult](), serve: publishBatch},
	{id: "listEvents", method: "GET", path: "/v1/tenants/{tenant}/events", scope: hookd.ScopeEventsRead,
		summary: "List events, newest first", query: eventListParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Event]](), serve: listEvents},
	{id: "getEvent", method: "GET", path: "/v1/tenants/{tenant}/events/{id}", scope: hookd.ScopeEventsRead,
		summary: "Read an event with its data",
		status:  http.StatusOK, resp: typeOf[*hookd.Event](), serve: getEvent},

	{id: "listDeliveries", method: "GET", path: "/v1/tenants/{tenant}/deliveries", scope: hookd.ScopeDeliveriesRead,
		summary: "List deliveries, newest first", query: deliveryParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Delivery]](), serve: listDeliveries},
	{id: "getDelivery", method: "GET", path: "/v1/tenants/{tenant}/deliveries/{id}", scope: hookd.ScopeDeliveriesRead,
		summary: "Read a delivery",
		status:  http.StatusOK, resp: typeOf[*hookd.Delivery](), serve: getDelivery},
	{id: "listDeliveryAttempts", method: "GET", path: "/v1/tenants/{tenant}/deliveries/{id}/attempts", scope: hookd.ScopeDeliveriesRead,
		summary: "List a delivery's attempts, oldest first", query: listParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.Attempt]](), serve: listDeliveryAttempts},
	{id: "retryDelivery", method: "POST", path: "/v1/tenants/{tenant}/deliveries/{id}/retry", scope: hookd.ScopeDeliveriesWrite,
		summary: "Redeliver now, whatever the delivery's state",
		status:  http.StatusAccepted, resp: typeOf[*hookd.Delivery](), serve: retryDelivery},

	{id: "listTenants", method: "GET", path: "/v1/tenants", scope: hookd.ScopeAdmin, global: true,
		summary: "List tenants (created on first use)", query: listParams,
		status: http.StatusOK, resp: typeOf[page[hookd.Tenant]](), serve: listTenants},
	{id: "createAPIKey", method: "POST", path: "/v1/api-keys", scope: hookd.ScopeAdmin, global: true,
		summary: "Create an API key; the answer shows the key, this once",
		body:    typeOf[apiKeyBody](), status: http.StatusCreated, resp: typeOf[apiKeyWithSecret](), serve: createAPIKey},
	{id: "listAPIKeys", method: "GET", path: "/v1/api-keys", scope: hookd.ScopeAdmin, global: true,
		summary: "List API keys (never the keys themselves)", query: listParams,
		status: http.StatusOK, resp: typeOf[page[*hookd.APIKey]](), serve: listAPIKeys},
	{id: "deleteAPIKey", method: "DELETE", path: "/v1/api-keys/{id}", scope: hookd.ScopeAdmin, global: true,
		summary: "Delete an API key",
		status:  http.StatusNoContent, serve: deleteAPIKey},

	{id: "health", method: "GET", path: "/healthz", summary: "Liveness: 200 while the process serves",
		status: http.StatusOK, resp: typeOf[healthStatus](), serve: healthz},
	{id: "ready", method: "GET", path: "/readyz", summary: "Readiness: 200 while the store answers and the server is not shutting down",
		status: http.StatusOK, resp: typeOf[healthStatus](), serve: readyz},
	{id: "metrics", method: "GET", path: "/metrics", summary: "Prometheus metrics",
		status: http.StatusOK, produces: "text/plain", serve: serveMetrics},
	{id: "openapi", method: "GET", path: "/openapi.json", summary: "This document",
		status: http.StatusOK, produces: "application/json", serve: serveOpenAPI},
}
