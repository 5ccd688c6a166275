package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups. Every transaction that makes deliveries due (a publish with
// unleased deliveries, a retry, a release, an outcome scheduling a retry
// within nearRetry, an endpoint enabled again) sends pg_notify on the
// schema's channel; NOTIFY is delivered at commit, so a woken node finds
// the rows. Each Store keeps one connection outside the pool LISTENing and
// turns notifications into coalesced sends on Wakeups. Retries due later
// are the engine's business: it times those it recorded, and its periodic
// sweep finds the rest.

// publishNotifyGap is the least time between two publishes of one store
// that notify. The publishing node claims its new deliveries itself right
// after the commit; the notification only lets idle nodes share the work,
// and under a stream of publishes one every few milliseconds does that as
// well as one per commit, without making every commit queue for
// PostgreSQL's notification lock and wake every listener.
const publishNotifyGap = 5 * time.Millisecond

// notifyPublish reports whether a publish committing now should notify.
func (s *Store) notifyPublish() bool {
	now := time.Now().UnixNano()
	last := s.lastNotify.Load()
	return now-last >= int64(publishNotifyGap) && s.lastNotify.CompareAndSwap(last, now)
}

// listen runs until ctx ends, reconnecting with backoff when the
// connection is lost. After every (re)connection it wakes the engine once:
// notifications sent while it was away are lost, the rows they announced
// are not.
func (s *Store) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.connCfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+ident(s.channel)); err != nil {
		return err
	}
	s.wakeup()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.wakeup()
	}
}
