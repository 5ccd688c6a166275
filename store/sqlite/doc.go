// Package sqlite is hookd's embedded store: one SQLite file in WAL mode,
// written by a single goroutine that commits in groups.
//
// SQLite allows one writer at a time, and with synchronous=FULL every commit
// costs an fsync. Rather than let concurrent callers queue on the file lock
// and pay one fsync each, every write method hands its work to one writer
// goroutine. The writer takes all requests waiting (up to a bound), runs
// them in one transaction, commits once and answers everyone: concurrency
// turns into bigger batches instead of lock contention, and a 202 still
// means fsync'd. A request that fails (a unique violation, say) must not
// take the others down, so the group is then run again with a SAVEPOINT
// around each request and the failure rolls back alone; savepoints cost
// as much as a small request, so only a failing group pays for them. Reads
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
// Times are stored as Unix microseconds. An event's seq is the rowid of the
// events table, assigned by the writer, and a delivery's rowid is its
// event's seq shifted left 20 bits plus its place in the fan-out, so an
// event's deliveries are one rowid range. Retention deletes done
// deliveries with their attempts, then events nothing refers to, a batch
// at a time. Cursors are base64url of the last row's sort key, decoded
// strictly.
package sqlite
