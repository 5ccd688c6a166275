package postgres

import "context"

// RetentionLockKey exposes the advisory lock key of s's retention job.
func RetentionLockKey(s *Store) int64 { return s.lockKey("retention") }

// UnclaimOnce exposes unclaimOnce.
func UnclaimOnce(s *Store, owner string, token int64) error {
	return s.unclaimOnce(context.Background(), owner, token)
}
