package hookd

import "context"

// Engine is the delivery engine as the API sees it. The delivery package
// implements it.
type Engine interface {
	// Publish validates nothing (the caller has), fans each event out to
	// the tenant's matching endpoints, stores events and deliveries
	// durably in one transaction, then dispatches the new deliveries from
	// memory. Results are in input order.
	Publish(ctx context.Context, tenant string, events []EventInput) ([]PublishResult, error)
	// Ping sends a hookd.ping event to the endpoint now and returns the
	// attempt. It is recorded like any other.
	Ping(ctx context.Context, e *Endpoint) (*Attempt, error)
	// Retry redelivers a delivery now, whatever its state.
	Retry(ctx context.Context, tenant, deliveryID string) (*Delivery, error)
	// CheckExpressions compiles an endpoint's CEL filter and body,
	// returning EINVALID naming the field when one is bad.
	CheckExpressions(e *Endpoint) error
	// EndpointChanged tells the engine that tenant's endpoints changed, so
	// fan-out and lanes use the new configuration.
	EndpointChanged(tenant string)
}

// PingEventType is the type of the event Ping sends.
const PingEventType = "hookd.ping"

// Version is hookd's version, sent in User-Agent ("hookd/<version>") and
// printed by "hookd version". Release builds set it with -ldflags -X.
var Version = "0.1.0-dev"

// Waker is implemented by a Store that several nodes share (PostgreSQL).
// Its channel receives when another node made deliveries due (a publish, a
// retry coming due, a released lease), so an idle node claims them at once
// instead of at its next poll. A store that implements it also enforces
// each endpoint's MaxInFlight across all nodes in DeliveryClaimMany, so
// the engine must not lease deliveries to itself at publish time; it claims
// them right after the commit instead.
type Waker interface {
	Wakeups() <-chan struct{}
}
