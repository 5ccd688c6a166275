package hookd

import (
	"context"
	"time"
)

// RecoveryStore is the part of Store behind recovery and lifecycle: replay
// jobs, endpoint health and statistics. store/storetest holds both stores
// to the behaviour described here.
type RecoveryStore interface {
	// ReplayCount counts the deliveries f selects now. It walks the
	// endpoint's deliveries in the window in pages of DefaultReplayScan,
	// each its own short statement, rather than one COUNT(*): the cost
	// follows the endpoint's deliveries in the window, and no statement
	// holds a snapshot or the write lock for long, however large the
	// tables. ENOTFOUND if the endpoint is not tenant's.
	ReplayCount(ctx context.Context, f ReplayFilter) (int64, error)
	// ReplayInsert stores a new running replay; EDUPLICATE if its ID is
	// taken.
	ReplayInsert(ctx context.Context, r *Replay) error
	// ReplayGet returns tenant's replay id.
	ReplayGet(ctx context.Context, tenant, id string) (*Replay, error)
	// ReplayList lists tenant's replays (of one endpoint, if given),
	// newest first.
	ReplayList(ctx context.Context, p ReplayListParams) ([]*Replay, string, error)
	// ReplayCancel stops a running replay at now and returns it; a
	// cancelled one is returned as it is, a completed one is ECONFLICT.
	// Deliveries it already made pending stay pending (at most one
	// window): they are attempted, but no longer counted.
	ReplayCancel(ctx context.Context, tenant, id string, now time.Time) (*Replay, error)
	// ReplayClaimMany leases up to p.Max running replays to p.Owner.
	ReplayClaimMany(ctx context.Context, p ReplayClaimParams) ([]*Replay, error)
	// ReplayStep advances a replay p.Owner holds, in one transaction:
	// it settles the deliveries it fed that have been attempted since
	// (counting Done, Succeeded, Failed), feeds more from its cursor
	// (making them pending and due at p.Now, as DeliveryRetry does) while
	// fewer than p.Window are unsettled, completes the replay when the
	// walk is over and nothing is unsettled, and renews the lease. A
	// replay whose endpoint was deleted is cancelled. A replay that is no
	// longer running is returned as it is, its lease dropped. ECONFLICT
	// if another owner holds it.
	ReplayStep(ctx context.Context, p ReplayStepParams) (*ReplayStepResult, error)
	// ReplayReleaseMany drops owner's replay leases (on shutdown), so
	// that another node, or the next start, takes them up at once.
	ReplayReleaseMany(ctx context.Context, owner string) error

	// EndpointHealthRecordMany folds observations into the endpoints'
	// health (see EndpointHealth.Observe) and applies what follows, in one
	// transaction: an endpoint failing for p.DisableAfter is disabled
	// (its pending deliveries wait). It returns one update per observed
	// endpoint that still exists.
	EndpointHealthRecordMany(ctx context.Context, p HealthRecordParams) ([]HealthUpdate, error)
	// EndpointHealthReset forgets an endpoint's failing streak and that
	// hookd disabled it, after a person enabled or disabled it.
	EndpointHealthReset(ctx context.Context, tenant, id string) error
	// EndpointStatsGet describes tenant's endpoint (see EndpointStats),
	// reading a bounded number of rows through indexes.
	EndpointStatsGet(ctx context.Context, p EndpointStatsParams) (*EndpointStats, error)
	// BacklogGet sums up the pending deliveries, with the top endpoints
	// by pending count. It reads every pending delivery's index entry, so
	// callers cache it.
	BacklogGet(ctx context.Context, top int) (*Backlog, error)
	// RecoveryPurge deletes up to batch replays that finished before
	// before, and the health of endpoints that no longer exist,
	// returning how many rows it deleted.
	RecoveryPurge(ctx context.Context, before time.Time, batch int) (int, error)
}
