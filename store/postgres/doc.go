// Package postgres is the hookd.Store for running several hookd nodes on
// one PostgreSQL database. The nodes coordinate only through the database:
// leases claimed with SKIP LOCKED, wake-ups over LISTEN/NOTIFY, and
// advisory locks for migrations and singleton jobs. It passes the same
// conformance suite (store/storetest) as the embedded SQLite store.
//
// # Queue and history
//
// A delivery is split in two. Its history (state, attempt count, last
// outcome) is a row of the partitioned deliveries table; while it is
// pending, its schedule and lease are a row of delivery_queue, a small
// unpartitioned table that holds only pending work. Claims read and lease
// rows of the queue alone, so their cost follows the backlog, not the
// history; recording an outcome deletes or reschedules the queue row and
// updates the history row in place, which no index covers in the columns
// changed, so that update is HOT. Paused queue rows (those of a disabled
// endpoint) sit outside the due index, so a large backlog waiting for a
// disabled endpoint costs the claims of the others nothing.
//
// # Claims and MaxInFlight across nodes
//
// A claim finds the endpoints of the oldest due work, locks their endpoint
// rows FOR NO KEY UPDATE SKIP LOCKED (claimers of one endpoint take turns;
// one finding it taken moves on), and then, in a new statement whose
// snapshot is taken after the locks, counts each endpoint's live leases and
// leases at most the room left from that endpoint's oldest due rows
// (FOR UPDATE SKIP LOCKED). Counting in the statement that takes the locks
// would miss the leases of a claimer that committed in between, and both
// would fill the same room. The transaction ends with the claim: requests
// run under the lease, never inside a transaction. An expired lease is due
// work; a node that died loses nothing but time. When the oldest due rows
// all belong to endpoints that can take no more (a slow endpoint's
// backlog), the claim walks the queue endpoint by endpoint instead, so no
// backlog starves the other endpoints on any node.
//
// A claim takes two round trips and does not wait for its commit to reach
// the disk: a lease lost with a crash only means the delivery is claimed
// again. Its plans are pinned to index scans (queue statistics lag behind
// bursts) and planned once per connection, since planning statements over
// partitioned tables costs more than running them.
//
// # Publishing
//
// EventInsertMany is one statement: event_ids (ON CONFLICT DO NOTHING)
// decides which events are new, and data-modifying CTEs store exactly
// those events, their deliveries, queue rows and, on first use, tenants.
// A group committer merges concurrent calls into shared statements, so
// under load publishes share round trips and WAL flushes. The publishing
// node claims its new deliveries itself right after the commit; publishes
// NOTIFY the other nodes at most every few milliseconds, enough for idle
// nodes to share the work.
//
// # Partitions and retention
//
// events, deliveries and attempts are range-partitioned by UTC day.
// Events are partitioned by created_at. Deliveries are partitioned by the
// day in their id (hookd.NewID puts the creation time first), and attempts
// by their delivery's day: a lookup by delivery id, on every outcome
// written, goes straight to one partition without an index spanning all of
// them, and a delivery's attempts are read from one partition. Ids of
// another form live in the partition of 1970-01-01. Unique keys of a
// partitioned table must hold the partition key, so the uniqueness of an
// event id per tenant is kept by event_ids, a narrow table that also says
// where each event lives.
//
// Partitions of the coming days are made ahead (at Migrate and hourly), and
// on demand for rows dated elsewhere. They are made as plain tables and
// then attached, which does not block readers or writers of the parent.
//
// RetentionPurge drops whole days: a day goes when nothing in it is pending
// (no queue row points into it, neither by delivery nor by event) and no
// delivery in it was created since the cutoff. Its partitions are detached
// CONCURRENTLY, which blocks no one; the queue is checked again with the
// day out of sight, since a retry may have revived one of its deliveries
// meanwhile, and the partitions are then dropped, or attached again. A day
// kept for a pending delivery, and the day straddling the cutoff, are
// cleaned by statements of at most batch rows, as the SQLite store does, so
// a stuck delivery keeps its own rows but not its neighbours'. One node
// purges at a time, under an advisory lock.
//
// # Failures
//
// The pool replaces connections that died with a restart of PostgreSQL.
// While the database is away, operations fail with hookd.EUNAVAILABLE
// (503); nothing is acknowledged that was not committed, and a publish
// retried with the same event ids is answered as a duplicate. A claim
// whose commit goes unanswered gives its leases back once the database
// answers (each claim marks its leases with a token), rather than leaving
// the deliveries until the leases expire. The listening connection
// reconnects by itself and wakes the engine once when it is back, since
// notifications sent meanwhile are lost.
package postgres
