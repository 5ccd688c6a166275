package hookd

import "time"

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states. Pending is the only one that will still be attempted on
// its own; the others change only by a retry or a replay.
const (
	StatePending   DeliveryState = "pending"
	StateSucceeded DeliveryState = "succeeded"
	StateFailed    DeliveryState = "failed" // retries exhausted
	StateCancelled DeliveryState = "cancelled"
)

// Valid reports whether s is one of the four states.
func (s DeliveryState) Valid() bool {
	switch s {
	case StatePending, StateSucceeded, StateFailed, StateCancelled:
		return true
	}
	return false
}

// Delivery is one event for one endpoint.
type Delivery struct {
	ID         string        `json:"id"`
	Tenant     string        `json:"tenant"`
	EventID    string        `json:"event_id"`
	EventType  string        `json:"event_type"`
	EndpointID string        `json:"endpoint_id"`
	State      DeliveryState `json:"status"`
	// Attempts counts the attempts made so far.
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // zero unless pending
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastAttemptID string    `json:"last_attempt_id,omitempty"`
	LastOutcome   Outcome   `json:"last_outcome,omitempty"`
	LastStatus    int       `json:"last_status_code,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	// The lease: while LeaseUntil is in the future, LeaseOwner (a node)
	// alone may attempt the delivery. Leases outlast the request timeout,
	// so two nodes never send the same attempt at once.
	LeaseOwner string    `json:"-"`
	LeaseUntil time.Time `json:"-"`
}

// Outcome classifies one attempt.
type Outcome string

// Outcomes of an attempt; all but OutcomeSucceeded are retried.
const (
	OutcomeSucceeded    Outcome = "succeeded"     // any 2xx
	OutcomeHTTPError    Outcome = "http_error"    // 4xx or 5xx
	OutcomeRedirect     Outcome = "redirect"      // 3xx: never followed
	OutcomeConnectError Outcome = "connect_error" // DNS, refused, reset, unreachable
	OutcomeTLSError     Outcome = "tls_error"     // handshake or certificate
	OutcomeTimeout      Outcome = "timeout"       // no full response in time
	OutcomeBlocked      Outcome = "blocked"       // address not allowed (SSRF guard)
)

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	DeliveryID string    `json:"delivery_id"`
	EndpointID string    `json:"endpoint_id"`
	EventID    string    `json:"event_id"`
	Number     int       `json:"number"` // 1 for the first attempt of the delivery
	StartedAt  time.Time `json:"timestamp"`
	Duration   int64     `json:"duration_ms"`
	Outcome    Outcome   `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Response holds up to MaxResponseExcerpt bytes of the response body.
	Response       string            `json:"response,omitempty"`
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
	RetryOf        string            `json:"retry_of,omitempty"`
	NextAttemptAt  time.Time         `json:"next_attempt_at,omitzero"`
	// Manual is set when a person asked for the attempt (retry, replay, ping).
	Manual bool `json:"manual,omitempty"`
}

// Failed reports whether the attempt did not succeed.
func (a *Attempt) Failed() bool { return a.Outcome != OutcomeSucceeded }

// MaxResponseExcerpt bounds the response body kept per attempt.
const MaxResponseExcerpt = 4 << 10
