package hookd

import "context"

// SeqReserver is implemented by a Store that can number events before it
// stores them. The engine reserves numbers when one of a tenant's endpoints
// has a CEL filter that reads event.seq, so that the filter sees the
// number the event will have; EventInsertMany keeps a Seq set this way
// (and sets it otherwise, as always). Both stores implement it: SQLite
// with an atomic add, PostgreSQL with one round trip to its sequence.
type SeqReserver interface {
	// EventSeqReserve returns n distinct, rising event numbers that no
	// other call and no EventInsertMany will use.
	EventSeqReserve(ctx context.Context, n int) ([]int64, error)
}
