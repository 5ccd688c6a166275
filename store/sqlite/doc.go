// Package sqlite is hookd's embedded store: one SQLite file in WAL mode,
// written by a single goroutine that commits in groups.
//
// SQLite allows one writer at a time, and with synchronous=FULL every commit
// costs an fsync. Rather than let concurrent callers queue on the file lock
// and pay one fsync each, every write method hands its work to one writer
// goroutine. The writer takes all requests waiting (up to a bound), runs
// them in one transaction with a SAVEPOINT around each, so a request that
// fails (a unique violation, say) rolls back alone and gets its own error,
// then commits once and answers everyone. Concurrency turns into bigger
// batches instead of lock contention, and a 202 still means fsync'd. Reads
// go to a separate pool of query_only connections, which WAL lets run
// beside the writer.
//
// Because only this process writes (Open takes an exclusive flock on
// "<path>.lock"), the writer may keep state in memory that a shared
// database could not: the endpoints' limits and a lower bound of when each
// endpoint next has work, so DeliveryClaimMany visits only endpoints with
// due deliveries and free slots, asks the (endpoint_id, due_at) index for
// their oldest, and merges them, instead of scanning past the backlog of a
// dead or saturated endpoint. For the same reason Open drops every lease:
// whoever held them is gone, and their deliveries are attempted at once.
//
// Times are stored as Unix microseconds and events' seq is the rowid of
// the events table, assigned by the writer. Cursors are base64url of the
// last row's sort key, decoded strictly.
package sqlite
