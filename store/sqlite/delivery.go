package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

const deliveryCols = `d.rowid, d.id, d.tenant, COALESCE(e.id, ''), COALESCE(e.type, ''), d.endpoint_id, d.state, d.attempts, d.next_at, d.last_at, d.last_attempt_id, d.last_outcome, d.last_status, d.created_at, d.updated_at, d.lease_owner, d.lease_until FROM deliveries d LEFT JOIN events e ON e.seq = d.rowid >> 20`

func scanDelivery(sc interface{ Scan(...any) error }) (*hookd.Delivery, int64, error) {
	var (
		d                                        hookd.Delivery
		rowid                                    int64
		state                                    int
		next, last, created, updated, leaseUntil int64
		outcome                                  string
	)
	if err := sc.Scan(&rowid, &d.ID, &d.Tenant, &d.EventID, &d.EventType, &d.EndpointID, &state, &d.Attempts, &next, &last,
		&d.LastAttemptID, &outcome, &d.LastStatus, &created, &updated, &d.LeaseOwner, &leaseUntil); err != nil {
		return nil, 0, err
	}
	if state >= 0 && state < len(stateNames) {
		d.State = stateNames[state]
	}
	d.LastOutcome = hookd.Outcome(outcome)
	d.NextAttemptAt, d.LastAttemptAt = fromMicro(next), fromMicro(last)
	d.CreatedAt, d.UpdatedAt, d.LeaseUntil = fromMicro(created), fromMicro(updated), fromMicro(leaseUntil)
	return &d, rowid, nil
}

func scanDeliveryRows(r *sql.Rows) (*hookd.Delivery, int64, error) { return scanDelivery(r) }

// DeliveryGet returns tenant's delivery id.
func (s *Store) DeliveryGet(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	d, _, err := scanDelivery(s.read.deliveryGet.QueryRowContext(ctx, tenant, id))
	if isNoRows(err) {
		return nil, hookd.NotFound("delivery")
	}
	return d, storeErr(err)
}

// DeliveryList lists tenant's deliveries, newest first.
func (s *Store) DeliveryList(ctx context.Context, p hookd.DeliveryListParams) ([]*hookd.Delivery, string, error) {
	t, rowid, after, err := decodeKey(kindDelivery, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if p.State != "" && !p.State.Valid() {
		return nil, "", hookd.Invalid("status", "must be one of pending, succeeded, failed, cancelled")
	}
	n := limit(p.Limit)
	q, args := `SELECT `+deliveryCols+` WHERE d.tenant = ?`, []any{p.Tenant}
	if p.EventID != "" {
		// An event's deliveries are a rowid range; the + keeps the planner
		// from preferring the tenant's index, which would scan the tenant.
		var seq int64
		err := s.rdb.QueryRowContext(ctx, `SELECT seq FROM events WHERE tenant = ? AND id = ?`, p.Tenant, p.EventID).Scan(&seq)
		if isNoRows(err) {
			return []*hookd.Delivery{}, "", nil
		}
		if err != nil {
			return nil, "", storeErr(err)
		}
		lo, hi := eventRange(seq)
		q = `SELECT ` + deliveryCols + ` WHERE +d.tenant = ? AND d.rowid >= ? AND d.rowid < ?`
		args = append(args, lo, hi)
	}
	if p.EndpointID != "" {
		if p.EventID != "" {
			q += ` AND +d.endpoint_id = ?`
		} else {
			q += ` AND d.endpoint_id = ?`
		}
		args = append(args, p.EndpointID)
	}
	if p.EventType != "" {
		q += ` AND e.type = ?`
		args = append(args, p.EventType)
	}
	if p.State != "" {
		q += ` AND d.state = ?`
		args = append(args, stateCode(p.State))
	}
	q, args = since(q, args, "d.created_at", p.Since, p.Until)
	q, args = keyset(q, args, "d.created_at", "d.rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanDeliveryRows, func(d *hookd.Delivery, rowid int64) string {
		return encodeKey(kindDelivery, micro(d.CreatedAt), rowid)
	})
}

// DeliveryClaimMany leases due deliveries, oldest due first, never more of
// an endpoint's than its MaxInFlight (plus p.Ahead's allowance: this
// process is the only one sending) less its live leases.
func (s *Store) DeliveryClaimMany(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	if p.Owner == "" {
		return nil, hookd.Invalid("owner", "is required: a lease needs an owner")
	}
	var out []hookd.Claim
	err := s.do(ctx, func(w *writer) (err error) {
		out, err = w.claim(p)
		return err
	})
	return out, err
}

// The claim's queries, each answered from one partial index (plan_test.go
// holds them to it). "lease_until > 0" repeats the index's condition so
// that the planner may use it.
const (
	qInFlight = `SELECT COUNT(*) FROM deliveries WHERE endpoint_id = ? AND lease_until > 0 AND lease_until > ?`
	qDue      = `SELECT rowid, due_at FROM deliveries WHERE endpoint_id = ? AND state = 0 AND due_at <= ? ORDER BY due_at LIMIT ?`
	qNextDue  = `SELECT MIN(due_at) FROM deliveries WHERE endpoint_id = ? AND state = 0`
)

// candidate is a due delivery the claim may lease.
type candidate struct {
	rowid, due int64
}

type claimEndpoint struct {
	id string
	st *epState
}

func (w *writer) claim(p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	now, until := micro(p.Now), micro(p.LeaseUntil)
	var eps []claimEndpoint
	consider := func(id string, st *epState) {
		if st.enabled && st.nextDue <= now && !slices.Contains(p.SkipEndpoints, id) {
			eps = append(eps, claimEndpoint{id, st})
		}
	}
	if p.EndpointID != "" {
		if st := w.eps[p.EndpointID]; st != nil {
			consider(p.EndpointID, st)
		}
	} else {
		for id, st := range w.eps {
			consider(id, st)
		}
	}
	slices.SortFunc(eps, func(a, b claimEndpoint) int { return cmpInt(a.st.nextDue, b.st.nextDue) })

	// Merge the endpoints' oldest due deliveries, visiting endpoints in
	// order of their earliest possible due time and stopping once none
	// can beat the Max-th candidate found.
	var cands []candidate
	var visited []claimEndpoint
	byDue := func(a, b candidate) int { return cmpInt(a.due, b.due) }
	for _, e := range eps {
		if len(cands) >= p.Max && e.st.nextDue >= cands[p.Max-1].due {
			break
		}
		var inFlight int
		if err := w.queryRow(qInFlight, []any{e.id, now}, &inFlight); err != nil {
			return nil, err
		}
		free := min(e.st.maxInFlight+max(p.Ahead[e.id], 0)-inFlight, p.Max)
		if free <= 0 {
			continue
		}
		visited = append(visited, e)
		rows, err := w.query(qDue, e.id, now, free)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.rowid, &c.due); err != nil {
				rows.Close()
				return nil, err
			}
			cands = append(cands, c)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		slices.SortFunc(cands, byDue)
		if len(cands) > p.Max {
			cands = cands[:p.Max]
		}
	}

	out, err := w.lease(cands, p.Owner, until)
	if err != nil {
		return nil, err
	}
	// What each visited endpoint has left sets its next due time exactly.
	for _, e := range visited {
		var next sql.NullInt64
		if err := w.queryRow(qNextDue, []any{e.id}, &next); err != nil {
			return nil, err
		}
		e.st.nextDue = noDue
		if next.Valid {
			e.st.nextDue = next.Int64
		}
	}
	return out, nil
}

// lease leases the candidates to owner and returns them with their
// events, in the candidates' order: one UPDATE and one SELECT whatever
// their number.
func (w *writer) lease(cands []candidate, owner string, until int64) ([]hookd.Claim, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	list := make([]byte, 0, 20*len(cands)+2)
	list = append(list, '[')
	pos := make(map[int64]int, len(cands))
	for i, c := range cands {
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, c.rowid, 10)
		pos[c.rowid] = i
	}
	list = append(list, ']')
	if _, err := w.exec(`UPDATE deliveries SET lease_owner = ?, lease_until = ?, due_at = ? WHERE rowid IN (SELECT value FROM json_each(?))`, owner, until, until, string(list)); err != nil {
		return nil, err
	}
	rows, err := w.query(`SELECT `+claimCols+` WHERE d.rowid IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]hookd.Claim, len(cands))
	events := map[int64]*hookd.Event{}
	for rows.Next() {
		d, ev, rowid, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		if shared := events[ev.Seq]; shared != nil {
			ev = shared
		}
		events[ev.Seq] = ev
		out[pos[rowid]] = hookd.Claim{Delivery: d, Event: ev}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range out {
		if c.Delivery == nil {
			return nil, errors.New("sqlite: a claimed delivery vanished")
		}
	}
	return out, nil
}

const claimCols = `d.rowid, d.id, d.tenant, d.endpoint_id, d.state, d.attempts, d.next_at, d.last_at, d.last_attempt_id, d.last_outcome, d.last_status, d.created_at, d.updated_at, d.lease_owner, d.lease_until, ` +
	`e.seq, e.id, e.tenant, e.type, e.data, e.occurred_at, e.created_at FROM deliveries d JOIN events e ON e.seq = d.rowid >> 20`

func scanClaim(r *sql.Rows) (*hookd.Delivery, *hookd.Event, int64, error) {
	var (
		d                                                             hookd.Delivery
		e                                                             hookd.Event
		rowid                                                         int64
		state                                                         int
		next, last, created, updated, leaseUntil, occurred, evCreated int64
		outcome                                                       string
		data                                                          []byte
	)
	if err := r.Scan(&rowid, &d.ID, &d.Tenant, &d.EndpointID, &state, &d.Attempts, &next, &last, &d.LastAttemptID, &outcome, &d.LastStatus,
		&created, &updated, &d.LeaseOwner, &leaseUntil, &e.Seq, &e.ID, &e.Tenant, &e.Type, &data, &occurred, &evCreated); err != nil {
		return nil, nil, 0, err
	}
	if state >= 0 && state < len(stateNames) {
		d.State = stateNames[state]
	}
	d.EventID, d.EventType, d.LastOutcome = e.ID, e.Type, hookd.Outcome(outcome)
	d.NextAttemptAt, d.LastAttemptAt = fromMicro(next), fromMicro(last)
	d.CreatedAt, d.UpdatedAt, d.LeaseUntil = fromMicro(created), fromMicro(updated), fromMicro(leaseUntil)
	e.Data, e.OccurredAt, e.CreatedAt = data, fromMicro(occurred), fromMicro(evCreated)
	return &d, &e, rowid, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DeliveryRetry makes tenant's delivery id pending and due at now, with
// no lease. ECONFLICT if its endpoint was deleted: nothing would send it.
func (s *Store) DeliveryRetry(ctx context.Context, tenant, id string, now time.Time) (*hookd.Delivery, error) {
	var out *hookd.Delivery
	err := s.do(ctx, func(w *writer) error {
		var ep string
		at := micro(now)
		err := w.queryRow(`UPDATE deliveries SET state = 0, next_at = ?, due_at = ?, lease_owner = '', lease_until = 0, updated_at = ? WHERE tenant = ? AND id = ? RETURNING endpoint_id`,
			[]any{at, at, at, tenant, id}, &ep)
		if isNoRows(err) {
			return hookd.NotFound("delivery")
		}
		if err != nil {
			return err
		}
		if _, ok := w.eps[ep]; !ok {
			return hookd.Errorf(hookd.ECONFLICT, "the delivery's endpoint was deleted")
		}
		w.due(ep, at)
		out, _, err = scanDelivery(rowScanner{w, `SELECT ` + deliveryCols + ` WHERE d.tenant = ? AND d.id = ?`, []any{tenant, id}})
		return err
	})
	return out, err
}

// DeliveryReleaseMany drops owner's leases on ids (all of owner's when ids
// is nil); the deliveries are due again at their NextAttemptAt, which a
// claimed delivery has already reached.
func (s *Store) DeliveryReleaseMany(ctx context.Context, owner string, ids []string) error {
	if ids != nil && len(ids) == 0 {
		return nil
	}
	return s.do(ctx, func(w *writer) error {
		release := func(rows *sql.Rows, err error) error {
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var ep string
				var next int64
				if err := rows.Scan(&ep, &next); err != nil {
					return err
				}
				w.due(ep, next)
			}
			return rows.Err()
		}
		const set = `UPDATE deliveries SET lease_owner = '', lease_until = 0, due_at = next_at WHERE lease_until > 0 AND lease_owner = ?`
		if ids == nil {
			return release(w.query(set+` RETURNING endpoint_id, next_at`, owner))
		}
		for _, id := range ids {
			if err := release(w.query(set+` AND id = ? RETURNING endpoint_id, next_at`, owner, id)); err != nil {
				return err
			}
		}
		return nil
	})
}
