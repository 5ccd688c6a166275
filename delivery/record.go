package delivery

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// recItem is an outcome to write, or (rec nil) a lease to hand back.
type recItem struct {
	rec *hookd.AttemptRecord
	j   *job
}

// record queues an attempt's record for the writer.
func (e *Engine) record(rec hookd.AttemptRecord, j *job) {
	e.recq <- recItem{rec: &rec, j: j}
}

// release queues j's lease to be handed back unattempted.
func (e *Engine) release(j *job) {
	e.recq <- recItem{j: j}
}

// writer batches outcomes: it takes what is waiting, waits up to
// RecordDelay for more (up to RecordBatch), and writes them with one
// AttemptRecordMany, so the store sees few large transactions however many
// requests complete. Released leases go the same way, in one
// DeliveryReleaseMany. It runs until recq is closed and drained.
func (e *Engine) writer() {
	defer close(e.writerDone)
	batch := make([]recItem, 0, e.opts.RecordBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		it, ok := <-e.recq
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		open := true
	fill:
		for len(batch) < e.opts.RecordBatch {
			select {
			case it, ok := <-e.recq:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, it)
				continue
			default:
			}
			timer.Reset(e.opts.RecordDelay)
			select {
			case it, ok := <-e.recq:
				timer.Stop()
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, it)
			case <-timer.C:
				break fill
			}
		}
		e.flush(batch)
		clear(batch)
		if !open {
			return
		}
	}
}

// flush writes one batch, retrying a failing store a few times: the
// attempts happened and are worth keeping. If the store stays down the
// outcomes are lost but not the deliveries: their leases expire and they
// are attempted again (at least once).
func (e *Engine) flush(batch []recItem) {
	recs := make([]hookd.AttemptRecord, 0, len(batch))
	var releases []string
	for _, it := range batch {
		if it.rec != nil {
			recs = append(recs, *it.rec)
		} else {
			releases = append(releases, it.j.d.ID)
		}
	}
	e.heldMu.Lock()
	for _, it := range batch {
		it.j.ended, it.j.attempted = true, it.rec != nil
	}
	e.heldMu.Unlock()
	ctx := context.WithoutCancel(e.runCtx)
	if len(recs) > 0 {
		e.retryStore("recording attempts", func() error { return e.store.AttemptRecordMany(ctx, recs) })
	}
	if len(releases) > 0 {
		e.m.released.Add(float64(len(releases)))
		e.retryStore("releasing leases", func() error { return e.store.DeliveryReleaseMany(ctx, e.opts.Owner, releases) })
	}
	kick := false
	for _, it := range batch {
		if e.unhold(it.j) {
			kick = true
		}
		if it.rec != nil && it.rec.State == hookd.StatePending {
			e.schedule(it.rec.NextAttemptAt)
		}
		if it.rec != nil && it.rec.DisableEndpoint != "" {
			e.EndpointChanged(it.j.d.Tenant)
		}
		var a *hookd.Attempt
		if it.rec != nil {
			a = it.rec.Attempt
		}
		e.notify(it.j.d.ID, a)
	}
	if len(releases) > 0 {
		kick = true // released deliveries are due now
	}
	if e.waker != nil {
		// A shared store caps each endpoint's leases across nodes and
		// does not announce the slots an outcome frees: whoever frees
		// them claims again, or a backlog held back by another node's
		// leases would wait for the sweep.
		kick = true
	}
	e.rec.recorded(batch)
	if len(recs) > 0 && e.opts.OnRecord != nil {
		e.opts.OnRecord(recs)
	}
	if kick {
		e.kick()
	}
}

func (e *Engine) retryStore(what string, f func() error) {
	delay := 10 * time.Millisecond
	for i := 0; ; i++ {
		err := f()
		if err == nil {
			return
		}
		if i == 4 {
			e.log.Error(what+" failed; the deliveries will be attempted again when their leases expire", "err", err)
			return
		}
		e.log.Warn(what+" failed; retrying", "err", err, "in", delay)
		time.Sleep(delay)
		delay *= 4
	}
}

// hold records that this node holds j's delivery. It returns false when
// the claim that made j adds nothing to the job held already: one not yet
// attempted, whose lease the claim renewed, or one whose outcome is being
// written, if the claim read the delivery before that write (the held
// lease had run out), which then drops the claim's lease (same owner).
//
// A job stays held until its outcome's (or release's) write returns, but
// the delivery is pending and unleased from the commit on, and a claim in
// between leases it for its next attempt: dropping that claim left the
// lease with nothing here to send it until it ran out. A claim that saw
// the attempt counted read the delivery after the commit; a release counts
// nothing, and its claim wins (before the commit it could only follow an
// expired lease, which another node may claim as well).
func (e *Engine) hold(j *job) bool {
	e.heldMu.Lock()
	defer e.heldMu.Unlock()
	if h := e.held[j.d.ID]; h != nil {
		if !h.ended {
			if j.leaseUntil.After(h.leaseUntil) {
				h.leaseUntil = j.leaseUntil
			}
			return false
		}
		if h.attempted && j.d.Attempts <= h.d.Attempts {
			return false
		}
		// j replaces h, which unhold then leaves alone.
	}
	e.held[j.d.ID] = j
	return true
}

// unhold forgets j once its outcome was written or its lease released,
// reporting whether its lane wants a claim.
func (e *Engine) unhold(j *job) bool {
	e.heldMu.Lock()
	if e.held[j.d.ID] == j {
		delete(e.held, j.d.ID)
	}
	e.heldMu.Unlock()
	return j.lane.done()
}

// notify wakes a Ping waiting for delivery id's attempt; a nil attempt
// means it was not made.
func (e *Engine) notify(id string, a *hookd.Attempt) {
	e.heldMu.Lock()
	ch := e.waiters[id]
	delete(e.waiters, id)
	e.heldMu.Unlock()
	if ch != nil {
		ch <- a
	}
}
