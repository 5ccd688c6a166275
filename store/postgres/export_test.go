package postgres

// RetentionLockKey exposes the advisory lock key of s's retention job.
func RetentionLockKey(s *Store) int64 { return s.lockKey("retention") }
