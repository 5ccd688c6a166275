package delivery

import "time"

// retentionPause separates purge batches, so that the store's writer
// serves publishes and outcomes between them.
const retentionPause = 20 * time.Millisecond

// retain purges old data at start and then every RetentionInterval.
func (e *Engine) retain() {
	for {
		e.purge()
		c, stop := e.opts.NewTimer(e.opts.RetentionInterval)
		select {
		case <-e.runCtx.Done():
			stop()
			return
		case <-c:
		}
	}
}

// purge deletes what is older than the retention in small batches until
// the store reports nothing left, pausing between batches: never one long
// delete that would stall delivery.
func (e *Engine) purge() {
	before := e.now().Add(-e.opts.Retention)
	total := 0
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		n, err := e.store.RetentionPurge(e.runCtx, before, e.opts.RetentionBatch)
		if err != nil {
			if e.runCtx.Err() == nil {
				e.log.Warn("retention purge", "err", err)
			}
			return
		}
		total += n
		if n == 0 {
			break
		}
		pause.Reset(retentionPause)
		select {
		case <-e.runCtx.Done():
			return
		case <-pause.C:
		}
	}
	if total > 0 {
		e.log.Info("retention purged old rows", "rows", total, "before", before)
	}
}
