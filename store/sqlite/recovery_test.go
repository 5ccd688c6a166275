package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// TestRecoveryQueryPlans holds the replay walk and the statistics to the
// indexes that bound them: without them a replay step or a stats request
// would scan a whole table.
func TestRecoveryQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	typed := &hookd.ReplayFilter{EventTypes: []string{"order.*"}}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{replayPageQuery(&hookd.ReplayFilter{}), []string{"INDEX deliveries_endpoint (endpoint_id=? AND created_at>? AND created_at<?)"}},
		{replayPageQuery(typed), []string{"INDEX deliveries_endpoint (endpoint_id=? AND created_at>? AND created_at<?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{qStatsAttempts, []string{"INDEX attempts_endpoint (endpoint_id=? AND started_at>? AND started_at<?)"}},
		{qStatsPending, []string{"INDEX deliveries_due (endpoint_id=?)"}},
		{qBacklog, []string{"INDEX deliveries_due"}},
		{`SELECT i.delivery_rowid, i.attempts, d.state, d.attempts FROM replay_items i LEFT JOIN deliveries d ON d.rowid = i.delivery_rowid WHERE i.replay_rowid = ?`,
			[]string{"PRIMARY KEY (replay_rowid=?)", "INTEGER PRIMARY KEY (rowid=?)"}},
	} {
		rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+tc.q, 1, 2, 3, 4, 5)
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
		got := strings.Join(plan, "\n")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s\nplan:\n\t%s\nwant %s", tc.q, strings.Join(plan, "\n\t"), w)
			}
		}
		if strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s sorts its rows:\n\t%s", tc.q, strings.Join(plan, "\n\t"))
		}
	}
}

// A replay leased by a process that is gone is free at the next Open: the
// file lock proves its owner dead, as for deliveries.
func TestReplayLeaseDroppedAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hookd.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := &hookd.Replay{ID: hookd.NewID(hookd.PrefixReplay), Tenant: "acme", EndpointID: "ep_x", Until: now,
		Status: hookd.ReplayStatusFailed, State: hookd.ReplayRunning, CreatedAt: now, UpdatedAt: now}
	if err := s.ReplayInsert(ctx, r); err != nil {
		t.Fatal(err)
	}
	claim := func(s *Store, owner string) int {
		rs, err := s.ReplayClaimMany(ctx, hookd.ReplayClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := claim(s, "old"); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := claim(s, "new"); n != 1 {
		t.Fatalf("after reopening, claimed %d, want the replay the old process held", n)
	}
}
