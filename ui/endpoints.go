package ui

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// SecretGrace is how long a rotated-out secret keeps signing, so receivers
// can switch over without rejecting anything.
const SecretGrace = 24 * time.Hour

// maxSecrets bounds how many still-valid secrets rotation keeps.
const maxSecrets = 5

type endpointRow struct {
	*hookd.Endpoint
	Health *health
}

func (u *UI) handleEndpoints(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	q := r.URL.Query()
	eps, next, err := u.store.EndpointList(r.Context(), hookd.EndpointListParams{
		ListParams: hookd.ListParams{Limit: hookd.DefaultLimit, Cursor: q.Get("cursor")},
		Tenant:     tenant,
	})
	if err != nil {
		return err
	}
	rows := make([]endpointRow, len(eps))
	for i, e := range eps {
		rows[i].Endpoint = e
	}
	if s.Can(hookd.ScopeDeliveriesRead) {
		if err := u.healthMany(r.Context(), tenant, rows); err != nil {
			return err
		}
	}
	p := u.newPage(s, "Endpoints")
	p.Tenant, p.Nav = tenant, "endpoints"
	p.Data = struct {
		Endpoints []endpointRow
		Pager     pager
	}{rows, newPager(q, next)}
	u.render(w, http.StatusOK, "endpoints", p)
	return nil
}

// healthMany computes the health of a page of endpoints, a few at a time:
// each is two bounded, indexed reads, and a page has at most 50.
func (u *UI) healthMany(ctx context.Context, tenant string, rows []endpointRow) error {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
		mu    sync.Mutex
		first error
	)
	for i := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h, err := u.health(ctx, tenant, rows[i].ID, listAttemptWindow, listPendingCap)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			rows[i].Health = h
		}()
	}
	wg.Wait()
	return first
}

func (u *UI) handleEndpoint(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	e, err := u.store.EndpointGet(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	var h *health
	if s.Can(hookd.ScopeDeliveriesRead) {
		if h, err = u.health(r.Context(), tenant, e.ID, detailAttemptWindow, detailPendingCap); err != nil {
			return err
		}
		if len(h.Recent) > 20 {
			h.Recent = h.Recent[:20]
		}
	}
	now := u.now().UTC()
	p := u.newPage(s, "Endpoint "+e.URL)
	p.Tenant, p.Nav = tenant, "endpoints"
	p.Flash = flash(r)
	p.Data = struct {
		E                  *hookd.Endpoint
		Health             *health
		ActiveSecrets      int
		ReplaySince        string
		ReplayUntil        string
		CanWrite, CanRetry bool
		ReplayMax          int
	}{
		E: e, Health: h, ActiveSecrets: len(e.ActiveSecrets(now)),
		ReplaySince: formatFormTime(now.Add(-24 * time.Hour).Truncate(time.Minute)),
		ReplayUntil: formatFormTime(now.Add(time.Minute).Truncate(time.Minute)),
		CanWrite:    s.Can(hookd.ScopeEndpointsWrite),
		CanRetry:    s.Can(hookd.ScopeDeliveriesWrite),
		ReplayMax:   u.replayMax,
	}
	u.render(w, http.StatusOK, "endpoint", p)
	return nil
}

func (u *UI) handleEnable(enable bool) tenantHandler {
	return func(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
		ctx := r.Context()
		e, err := u.store.EndpointGet(ctx, tenant, r.PathValue("id"))
		if err != nil {
			return err
		}
		if e.Enabled != enable {
			e.Enabled = enable
			e.DisabledReason = "" // a person decided; hookd's own reason no longer holds
			e.UpdatedAt = u.now().UTC()
			if err := u.store.EndpointUpdate(ctx, e); err != nil {
				return err
			}
			u.engine.EndpointChanged(tenant)
			if rc, ok := u.engine.(hookd.Recovery); ok {
				rc.EndpointToggled(ctx, e) // health afresh; operators hear of it
			}
		}
		done := "disabled"
		if enable {
			done = "enabled"
		}
		http.Redirect(w, r, u.link("t", tenant, "endpoints", e.ID)+"?done="+done, http.StatusSeeOther)
		return nil
	}
}

// handleRotate makes a new secret current and keeps the old one signing
// for SecretGrace, then shows the new secret once: the page is not cached
// and the secret appears nowhere else in the dashboard.
func (u *UI) handleRotate(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	ctx := r.Context()
	e, err := u.store.EndpointGet(ctx, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := u.now().UTC()
	secret := hookd.NewSecret()
	secrets := []hookd.Secret{{Value: secret}}
	for _, old := range e.ActiveSecrets(now) {
		if old.ExpiresAt.IsZero() || old.ExpiresAt.After(now.Add(SecretGrace)) {
			old.ExpiresAt = now.Add(SecretGrace)
		}
		if len(secrets) < maxSecrets {
			secrets = append(secrets, old)
		}
	}
	// Newest first, as Endpoint.Secrets promises: the older ones by
	// their expiry, latest first.
	slices.SortStableFunc(secrets[1:], func(a, b hookd.Secret) int { return b.ExpiresAt.Compare(a.ExpiresAt) })
	e.Secrets = secrets
	e.UpdatedAt = now
	if err := u.store.EndpointUpdate(ctx, e); err != nil {
		return err
	}
	u.engine.EndpointChanged(tenant)
	p := u.newPage(s, "New secret")
	p.Tenant, p.Nav = tenant, "endpoints"
	p.Data = struct {
		E        *hookd.Endpoint
		Secret   string
		OldUntil time.Time
		Grace    time.Duration
	}{e, secret, now.Add(SecretGrace), SecretGrace}
	u.render(w, http.StatusOK, "secret", p)
	return nil
}
