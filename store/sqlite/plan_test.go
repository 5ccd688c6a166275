package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryPlans holds the hot queries to the indexes they were written
// for: a planner that picks another (it has no statistics to go by) turns
// a seek into a scan of a whole tenant or endpoint.
func TestQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct{ q, want string }{
		{qInFlight, "COVERING INDEX deliveries_leased (endpoint_id=? AND lease_until>?)"},
		{qDue, "INDEX deliveries_due (endpoint_id=? AND due_at<?)"},
		{qNextDue, "COVERING INDEX deliveries_due (endpoint_id=?)"},
		{`SELECT ` + deliveryCols + ` WHERE +d.tenant = ? AND d.rowid >= ? AND d.rowid < ? AND +d.endpoint_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT 10`, "INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		{`SELECT ` + deliveryCols + ` WHERE d.tenant = ? AND d.endpoint_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT 10`, "INDEX deliveries_endpoint (endpoint_id=?)"},
		{`SELECT ` + deliveryCols + ` WHERE d.tenant = ? AND (d.created_at, d.rowid) < (?, ?) ORDER BY d.created_at DESC, d.rowid DESC LIMIT 10`, "INDEX deliveries_tenant (tenant=? AND created_at<?)"},
		{`UPDATE deliveries SET state = 3 WHERE endpoint_id = ? AND state = 0`, "INDEX deliveries_due (endpoint_id=?)"},
		{`UPDATE deliveries SET lease_owner = '' WHERE lease_until > 0 AND lease_owner = ?`, "INDEX deliveries_leased"},
		{qPurgeAttempts, "INDEX attempts_delivery (delivery_id=?)"},
		{`SELECT d.rowid, d.id, (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) FROM deliveries d WHERE d.created_at < ?1 AND d.state != 0 AND d.updated_at < ?1 LIMIT ?2`, "INDEX deliveries_created (created_at<?)"},
		{`SELECT 1 FROM deliveries d WHERE d.rowid >= ? << 20 AND d.rowid < (? + 1) << 20`, "INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
	} {
		rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+tc.q, 1, 2, 3, 4)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), tc.want) {
			t.Errorf("%s\nplan:\n\t%s\nwant %s", tc.q, strings.Join(plan, "\n\t"), tc.want)
		}
	}
}
