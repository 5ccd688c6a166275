package delivery

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
)

// Options configure an Engine. The zero value is a working configuration
// for one node; every field has a default.
type Options struct {
	// Owner names this node in leases. It must be unique among the nodes
	// sharing a store. Default: hostname, pid and a random suffix.
	Owner string

	// AllowNetworks lets requests reach addresses inside these prefixes
	// even when they are loopback, private or otherwise non-public, which
	// the SSRF guard blocks by default.
	AllowNetworks []netip.Prefix

	// LeaseMargin is how much longer than the endpoint's timeout a lease
	// lasts (default 10s). Lanes hold no more than they can send within
	// half of it; the other half absorbs a misjudged pace and clock skew
	// between nodes, and a delivery that waited until its lease no longer
	// covers the timeout (plus a second to write the outcome) is handed
	// back instead of sent late. It is also how long, beyond the timeout,
	// the deliveries of a node that died wait before another node sends
	// them. A smaller margin shortens that wait but also the lanes of slow
	// and rate-limited endpoints, which then claim more often.
	LeaseMargin time.Duration
	// PollInterval is the period of the sweep that claims whatever no
	// timer or wake-up announced: leases of dead nodes, restarts (default
	// 1s).
	PollInterval time.Duration
	// ClaimBatch bounds the deliveries one claim leases (default 256).
	ClaimBatch int
	// LaneCapacity bounds the deliveries one endpoint's lane holds in
	// memory besides those in flight (default 16384); the rest wait in the
	// store. Lanes of slow or rate-limited endpoints hold fewer: what they
	// can send within about half the lease margin.
	LaneCapacity int
	// RecordBatch bounds the attempts written in one AttemptRecordMany
	// (default 512), and RecordDelay how long the writer waits to fill a
	// batch (default 1ms).
	RecordBatch int
	RecordDelay time.Duration
	// EndpointTTL is how long the endpoints of a tenant are cached
	// (default 10s); EndpointChanged invalidates them at once. The TTL
	// bounds how long a change made through another node goes unseen.
	EndpointTTL time.Duration

	// Retention, when positive, deletes events, deliveries and attempts
	// older than this in the background, RetentionBatch rows at a time
	// (default 500) with a pause between batches, every RetentionInterval
	// (default 1m).
	Retention         time.Duration
	RetentionBatch    int
	RetentionInterval time.Duration

	// Now is the clock (default time.Now), and NewTimer its timers: it
	// returns a channel that receives once d has passed on that clock and
	// a function that stops the timer. hookdtest.Clock provides both, so
	// tests of retry schedules never sleep.
	Now      func() time.Time
	NewTimer func(d time.Duration) (<-chan time.Time, func() bool)

	// RootCAs replaces the system roots for verifying endpoints'
	// certificates (tests use it to trust a local TLS receiver).
	RootCAs *x509.CertPool
	// MaxIdleConnsPerHost bounds the idle connections kept per endpoint
	// host for reuse (default 256).
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes idle connections after this (default 90s).
	IdleConnTimeout time.Duration
	// MaxConnsPerHost, when positive, bounds the connections to one host
	// (all its endpoints together); requests beyond it wait for a
	// connection within their timeout. By default each request may open
	// its own, so that endpoints sharing a host stay independent. Setting
	// it sends through net/http's Transport (which also speaks HTTP/2 to
	// TLS endpoints) instead of the direct HTTP/1.1 client (direct.go),
	// at about 15 µs more CPU per request.
	MaxConnsPerHost int

	// Logger receives the engine's logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the engine's Prometheus metrics.
	Registerer prometheus.Registerer

	// OpsTenant, when set, is the tenant hookd publishes its operational
	// events to (endpoint.disabled, endpoint.enabled, delivery.failed,
	// delivery.recovered: see ops.go), through Publish like any event, so
	// operators subscribe to them with ordinary endpoints.
	OpsTenant string
	// DisableAfter disables an endpoint whose every attempt has failed
	// for this long (default 5 days; negative: never). Its pending
	// deliveries wait until a person enables it again.
	DisableAfter time.Duration
	// HealthInterval is how often observed outcomes are written to the
	// endpoints' health (default 1s; a turn of state is written at once),
	// and HealthRefresh how much newer than the last written its attempts
	// must be for an endpoint whose state did not turn to be written
	// again (default 10s).
	HealthInterval time.Duration
	HealthRefresh  time.Duration
	// ReplayWorkers bounds the replays this node runs at once (default
	// 4); ReplayLease is how long a node holds a replay between steps
	// (default 30s), after which another node may resume it; ReplayPoll
	// is how often the node looks for replays to run (default 1s).
	ReplayWorkers int
	ReplayLease   time.Duration
	ReplayPoll    time.Duration
	// BacklogInterval is how often the pending backlog is read from the
	// store for the metrics (default 15s); MetricsTopEndpoints is how many
	// endpoints with the largest backlog get a series of their own
	// (default 10; negative: none). MetricsTenants are tenants whose
	// publishes and attempts are counted in series of their own; every
	// other tenant only adds to the totals, so the number of series stays
	// bounded whatever the number of tenants.
	BacklogInterval     time.Duration
	MetricsTopEndpoints int
	MetricsTenants      []string

	// OnRecord, when set, is called with every batch of attempt records
	// once the store committed it, from the engine's writer goroutine: it
	// must return quickly. Operational events hook in here, and so do
	// tests on a fake clock: once attempt n is recorded (and its retry
	// timer set), advancing the clock to its NextAttemptAt sends attempt
	// n+1.
	OnRecord func([]hookd.AttemptRecord)
}

func (o *Options) setDefaults() {
	if o.Owner == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "hookd"
		}
		id := hookd.NewID("n")
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), id[len(id)-6:])
	}
	if o.LeaseMargin <= 0 {
		o.LeaseMargin = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.ClaimBatch <= 0 {
		o.ClaimBatch = 256
	}
	if o.LaneCapacity <= 0 {
		o.LaneCapacity = 16384
	}
	if o.RecordBatch <= 0 {
		o.RecordBatch = 512
	}
	if o.RecordDelay <= 0 {
		o.RecordDelay = time.Millisecond
	}
	if o.EndpointTTL <= 0 {
		o.EndpointTTL = 10 * time.Second
	}
	if o.RetentionBatch <= 0 {
		o.RetentionBatch = 500
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewTimer == nil {
		o.NewTimer = func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DisableAfter == 0 {
		o.DisableAfter = 5 * 24 * time.Hour
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = time.Second
	}
	if o.HealthRefresh <= 0 {
		o.HealthRefresh = 10 * time.Second
	}
	if o.ReplayWorkers <= 0 {
		o.ReplayWorkers = 4
	}
	if o.ReplayLease <= 0 {
		o.ReplayLease = 30 * time.Second
	}
	if o.ReplayPoll <= 0 {
		o.ReplayPoll = time.Second
	}
	if o.BacklogInterval <= 0 {
		o.BacklogInterval = 15 * time.Second
	}
	if o.MetricsTopEndpoints == 0 {
		o.MetricsTopEndpoints = 10
	}
}
