package postgres

import (
	"context"
	"slices"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

var _ hookd.SeqReserver = (*Store)(nil)

// EventSeqReserve draws n numbers from the event sequence in one round
// trip; EventInsertMany uses them instead of drawing its own.
func (s *Store) EventSeqReserve(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT nextval('event_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, s.fail(err, "reserve event numbers")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, s.fail(err, "reserve event numbers")
	}
	slices.Sort(out)
	return out, nil
}
