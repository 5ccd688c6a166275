package sqlite

import (
	"context"

	"github.com/hookd/hookd"
)

var _ hookd.SeqReserver = (*Store)(nil)

// EventSeqReserve hands out n event numbers from the writer's counter, an
// atomic add: no statement, no wait for the writer.
func (s *Store) EventSeqReserve(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	select {
	case <-s.closing:
		return nil, errClosed
	default:
	}
	last := s.w.seq.Add(int64(n))
	out := make([]int64, n)
	for i := range out {
		out[i] = last - int64(n) + 1 + int64(i)
	}
	return out, nil
}
