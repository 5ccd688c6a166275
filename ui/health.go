package ui

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// health summarises an endpoint from bounded reads: the newest attempts up
// to a window, and pending deliveries up to a cap. Neither grows with the
// size of the tables, so the endpoints page stays fast on millions of rows.
type health struct {
	Attempts    int     // attempts in the window
	SuccessRate float64 // percent of Attempts that succeeded
	LastFailure *hookd.Attempt
	LastSuccess time.Time
	Pending     int
	PendingMore bool // there are more than Pending
	Recent      []*hookd.Attempt
}

// Window sizes: the list page summarises many endpoints, the detail page one.
const (
	listAttemptWindow   = 50
	listPendingCap      = 100
	detailAttemptWindow = 200
	detailPendingCap    = 1000
)

func (u *UI) health(ctx context.Context, tenant, endpointID string, window, pendingCap int) (*health, error) {
	atts, _, err := u.store.AttemptListByEndpoint(ctx, hookd.AttemptListParams{
		ListParams: hookd.ListParams{Limit: window},
		Tenant:     tenant, EndpointID: endpointID,
	})
	if err != nil {
		return nil, err
	}
	h := &health{Attempts: len(atts), Recent: atts}
	ok := 0
	for _, a := range atts { // newest first
		if a.Failed() {
			if h.LastFailure == nil {
				h.LastFailure = a
			}
		} else {
			ok++
			if h.LastSuccess.IsZero() {
				h.LastSuccess = a.StartedAt
			}
		}
	}
	if len(atts) > 0 {
		h.SuccessRate = 100 * float64(ok) / float64(len(atts))
	}
	pend, next, err := u.store.DeliveryList(ctx, hookd.DeliveryListParams{
		ListParams: hookd.ListParams{Limit: pendingCap},
		Tenant:     tenant, EndpointID: endpointID, State: hookd.StatePending,
	})
	if err != nil {
		return nil, err
	}
	h.Pending, h.PendingMore = len(pend), next != ""
	return h, nil
}
