package delivery

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// Operational events. With Options.OpsTenant set, hookd publishes what
// operators want to hear about to that tenant, through Publish like any
// event, so they subscribe with ordinary endpoints (filters, signatures,
// retries and all):
//
//   - endpoint.disabled: hookd disabled an endpoint (a 410, or every
//     attempt failed for DisableAfter; Automatic is true), or a person
//     did (Automatic false). Its pending deliveries wait.
//   - endpoint.enabled: a person enabled an endpoint again; its waiting
//     deliveries go out.
//   - delivery.failed: a delivery's retries are exhausted (a manual retry
//     or a replay that fails again does not count).
//   - delivery.recovered: an endpoint succeeded after a failing streak (a
//     run of failed attempts with no success between them), once per
//     streak; FailingSince and FailedFor say how long it lasted, so an
//     endpoint's filter can ignore short blips
//     (event.data.failed_for_seconds > 60).
//
// Event ids are derived from what they report (the attempt, the time of
// the change), so a report made twice, by two nodes or after a retry, is
// stored once. The events are best effort: those that arise while the
// engine stops, or while the store refuses the publish for a minute, are
// dropped and counted (hookd_ops_events_dropped_total).
//
// Never a loop: delivery events about the ops tenant's own deliveries are
// not published (a failing ops endpoint would otherwise feed itself).
// Endpoint events about the ops tenant's endpoints are, since each is one
// change of state, not an echo of a delivery.

// EndpointEventData is the data of endpoint.disabled and endpoint.enabled.
type EndpointEventData struct {
	Tenant     string `json:"tenant"`
	EndpointID string `json:"endpoint_id"`
	// Reason says why it was disabled.
	Reason string `json:"reason,omitempty"`
	// Automatic says hookd disabled it, not a person.
	Automatic bool `json:"automatic"`
	// FailingSince is when the failing streak that disabled it began.
	FailingSince time.Time `json:"failing_since,omitzero"`
	At           time.Time `json:"at"`
}

// DeliveryFailedData is the data of delivery.failed.
type DeliveryFailedData struct {
	Tenant        string        `json:"tenant"`
	EndpointID    string        `json:"endpoint_id"`
	DeliveryID    string        `json:"delivery_id"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	Attempts      int           `json:"attempts"`
	LastAttemptID string        `json:"last_attempt_id"`
	LastOutcome   hookd.Outcome `json:"last_outcome"`
	LastStatus    int           `json:"last_status_code,omitempty"`
	LastError     string        `json:"last_error,omitempty"`
	FailedAt      time.Time     `json:"failed_at"`
}

// DeliveryRecoveredData is the data of delivery.recovered: the attempt
// that ended an endpoint's failing streak.
type DeliveryRecoveredData struct {
	Tenant       string    `json:"tenant"`
	EndpointID   string    `json:"endpoint_id"`
	DeliveryID   string    `json:"delivery_id,omitempty"`
	EventID      string    `json:"event_id,omitempty"`
	AttemptID    string    `json:"attempt_id,omitempty"`
	FailingSince time.Time `json:"failing_since"`
	RecoveredAt  time.Time `json:"recovered_at"`
	// FailedFor is RecoveredAt − FailingSince, as a Go duration string
	// and in whole seconds.
	FailedFor        hookd.Duration `json:"failed_for"`
	FailedForSeconds int64          `json:"failed_for_seconds"`
}

// opsQueue holds operational events until the ops loop publishes them.
type opsQueue struct {
	mu     sync.Mutex
	events []hookd.EventInput
	ready  chan struct{}
}

// maxOpsQueue bounds the events waiting for a publish; beyond it they are
// dropped (a store down for long, or a flood of failures).
const maxOpsQueue = 100_000

func (q *opsQueue) init() { q.ready = make(chan struct{}, 1) }

// opsEvent queues an operational event for the ops loop; it is dropped
// (and counted) when the queue is full.
func (r *recovery) opsEvent(id, typ string, data any) {
	if r.e.opts.OpsTenant == "" {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		r.e.log.Error("operational event does not marshal", "type", typ, "err", err)
		return
	}
	q := &r.ops
	q.mu.Lock()
	full := len(q.events) >= maxOpsQueue
	if !full {
		q.events = append(q.events, hookd.EventInput{ID: id, Type: typ, Data: b})
	}
	q.mu.Unlock()
	if full {
		r.m.opsDropped.Inc()
		return
	}
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (r *recovery) endpointEvent(typ, tenant, id, reason string, automatic bool, at, failingSince time.Time) {
	r.opsEvent(typ+":"+id+":"+strconv.FormatInt(at.UnixMicro(), 10), typ, EndpointEventData{
		Tenant: tenant, EndpointID: id, Reason: reason, Automatic: automatic, FailingSince: failingSince.UTC(), At: at.UTC(),
	})
}

func (r *recovery) deliveryFailed(d *hookd.Delivery, rec *hookd.AttemptRecord) {
	if d.Tenant == r.e.opts.OpsTenant {
		return
	}
	a := rec.Attempt
	r.opsEvent(hookd.EventDeliveryFailed+":"+a.ID, hookd.EventDeliveryFailed, DeliveryFailedData{
		Tenant: d.Tenant, EndpointID: d.EndpointID, DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType,
		Attempts: a.Number, LastAttemptID: a.ID, LastOutcome: a.Outcome, LastStatus: a.StatusCode, LastError: a.Error,
		FailedAt: a.StartedAt.Add(time.Duration(a.Duration) * time.Millisecond).UTC(),
	})
}

func (r *recovery) deliveryRecovered(u *hookd.HealthUpdate, ok *hookd.Attempt) {
	if u.Health.Tenant == r.e.opts.OpsTenant {
		return
	}
	at := u.Health.LastSuccess
	data := DeliveryRecoveredData{Tenant: u.Health.Tenant, EndpointID: u.Health.EndpointID, FailingSince: u.FailingSince.UTC(), RecoveredAt: at.UTC()}
	id := hookd.EventDeliveryRecovered + ":" + u.Health.EndpointID + ":" + strconv.FormatInt(at.UnixMicro(), 10)
	if ok != nil {
		data.DeliveryID, data.EventID, data.AttemptID, data.RecoveredAt = ok.DeliveryID, ok.EventID, ok.ID, ok.StartedAt.UTC()
		id = hookd.EventDeliveryRecovered + ":" + ok.ID
	}
	if d := data.RecoveredAt.Sub(data.FailingSince); d > 0 {
		data.FailedFor, data.FailedForSeconds = hookd.Duration(d), int64(d/time.Second)
	}
	r.opsEvent(id, hookd.EventDeliveryRecovered, data)
}

// opsLoop publishes queued operational events in batches, retrying a
// failing publish for about a minute before dropping the batch.
func (r *recovery) opsLoop() {
	e := r.e
	q := &r.ops
	for {
		select {
		case <-e.runCtx.Done():
			return
		case <-q.ready:
		}
		for {
			q.mu.Lock()
			n := min(len(q.events), hookd.MaxBatch)
			batch := q.events[:n:n]
			q.events = q.events[n:]
			if len(q.events) == 0 {
				q.events = nil
			}
			q.mu.Unlock()
			if n == 0 {
				break
			}
			if !r.publishOps(batch) {
				return
			}
		}
	}
}

// publishOps publishes one batch, reporting false once the engine stops.
func (r *recovery) publishOps(batch []hookd.EventInput) bool {
	e := r.e
	delay := 100 * time.Millisecond
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(e.runCtx, 30*time.Second)
		res, err := e.Publish(ctx, e.opts.OpsTenant, batch)
		cancel()
		if err == nil {
			for i, p := range res {
				if !p.Duplicate {
					r.m.opsEvents.WithLabelValues(batch[i].Type).Inc()
				}
			}
			return true
		}
		if e.runCtx.Err() != nil || try == 8 {
			e.log.Warn("operational events dropped", "count", len(batch), "err", err)
			r.m.opsDropped.Add(float64(len(batch)))
			return e.runCtx.Err() == nil
		}
		t := time.NewTimer(delay)
		select {
		case <-e.runCtx.Done():
			t.Stop()
			r.m.opsDropped.Add(float64(len(batch)))
			return false
		case <-t.C:
		}
		delay = min(2*delay, 15*time.Second)
	}
}
