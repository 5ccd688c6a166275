package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
)

// ReplayMax bounds a replay from the dashboard: counting and redelivering
// more in one request would hold it open for minutes.
const ReplayMax = 10000

// statusFilters are the delivery list's views, failed first: what went
// wrong is what a visitor comes for.
var statusFilters = []struct{ Value, Label string }{
	{"failed", "Failed"},
	{"pending", "Pending"},
	{"succeeded", "Succeeded"},
	{"cancelled", "Cancelled"},
	{"all", "All"},
}

type deliveryFilter struct {
	Status     string
	EndpointID string
	EventType  string
	EventID    string
	Since      string
	Until      string
}

func (f deliveryFilter) params(tenant string) (hookd.DeliveryListParams, error) {
	p := hookd.DeliveryListParams{Tenant: tenant, EndpointID: f.EndpointID, EventType: f.EventType, EventID: f.EventID}
	var v hookd.Validation
	if f.Status != "all" {
		p.State = hookd.DeliveryState(f.Status)
		if !p.State.Valid() {
			v.Add("status", "must be failed, pending, succeeded, cancelled or all")
		}
	}
	if f.EventType != "" && !hookd.ValidEventType(f.EventType) {
		v.Add("event type", "must match [A-Za-z0-9_.-]{1,128}")
	}
	if len(f.EndpointID) > maxIDLength {
		v.Add("endpoint", "is too long")
	}
	if len(f.EventID) > maxIDLength {
		v.Add("event id", "is too long")
	}
	var ok bool
	if p.Since, ok = parseFormTime(f.Since); !ok {
		v.Add("from", "must be a date and time such as 2025-01-31T14:00")
	}
	if p.Until, ok = parseFormTime(f.Until); !ok {
		v.Add("to", "must be a date and time such as 2025-01-31T15:00")
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Since.Before(p.Until) {
		v.Add("to", "must be after from")
	}
	return p, v.Err()
}

type deliveryRow struct {
	*hookd.Delivery
	Outcome     Outcome
	EndpointURL string
}

func (u *UI) handleDeliveries(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := deliveryFilter{
		Status: q.Get("status"), EndpointID: strings.TrimSpace(q.Get("endpoint")),
		EventType: strings.TrimSpace(q.Get("type")), EventID: strings.TrimSpace(q.Get("event")),
		Since: q.Get("since"), Until: q.Get("until"),
	}
	if f.Status == "" {
		f.Status = "failed"
	}
	p := u.newPage(s, "Deliveries")
	p.Tenant, p.Nav = tenant, "deliveries"
	p.Flash = flash(r)

	// The endpoint picker, and URLs instead of IDs in the table. Bounded:
	// a tenant with more endpoints still filters by ID in the URL.
	var eps []*hookd.Endpoint
	urls := map[string]string{}
	if s.Can(hookd.ScopeEndpointsRead) {
		var err error
		eps, _, err = u.store.EndpointList(ctx, hookd.EndpointListParams{ListParams: hookd.ListParams{Limit: 200}, Tenant: tenant})
		if err != nil {
			return err
		}
		for _, e := range eps {
			urls[e.ID] = e.URL
		}
	}

	status := http.StatusOK
	var rows []deliveryRow
	var pg pager
	lp, err := f.params(tenant)
	if err == nil {
		lp.ListParams = hookd.ListParams{Limit: hookd.DefaultLimit, Cursor: q.Get("cursor")}
		var ds []*hookd.Delivery
		var next string
		ds, next, err = u.store.DeliveryList(ctx, lp)
		if err == nil {
			rows = make([]deliveryRow, len(ds))
			for i, d := range ds {
				rows[i] = deliveryRow{Delivery: d, Outcome: DescribeOutcome(d.LastOutcome, d.LastStatus), EndpointURL: urls[d.EndpointID]}
			}
			pg = newPager(q, next)
		}
	}
	if err != nil {
		if c := hookd.ErrorCode(err); c != hookd.EINVALID && c != hookd.EMALFORMED {
			return err
		}
		status = http.StatusBadRequest
		p.Error = errMessage(err)
	}
	p.Data = struct {
		F        deliveryFilter
		Statuses []struct{ Value, Label string }
		Rows     []deliveryRow
		Pager    pager
		Eps      []*hookd.Endpoint
		CanRetry bool
	}{f, statusFilters, rows, pg, eps, s.Can(hookd.ScopeDeliveriesWrite)}
	u.render(w, status, "deliveries", p)
	return nil
}

func errMessage(err error) string {
	if e, ok := err.(*hookd.Error); ok && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

type attemptRow struct {
	*hookd.Attempt
	Outcome Outcome
	Headers []header
}

type header struct{ Name, Value string }

// maxEventShown bounds the event data rendered on a page; events may be
// up to 1 MiB.
const maxEventShown = 64 << 10

func (u *UI) handleDelivery(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	ctx := r.Context()
	d, err := u.store.DeliveryGet(ctx, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	atts, next, err := u.store.AttemptListByDelivery(ctx, tenant, d.ID, hookd.ListParams{Limit: 100, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		return err
	}
	rows := make([]attemptRow, len(atts))
	for i, a := range atts {
		rows[i] = attemptRow{Attempt: a, Outcome: DescribeOutcome(a.Outcome, a.StatusCode), Headers: redactHeaders(a.RequestHeaders)}
	}
	var ev *hookd.Event
	var data string
	var dataCut bool
	if s.Can(hookd.ScopeEventsRead) {
		ev, err = u.store.EventGet(ctx, tenant, d.EventID)
		if err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
			return err
		}
		if ev != nil {
			data, dataCut = prettyJSON(ev.Data, maxEventShown)
		}
	}
	var ep *hookd.Endpoint
	if s.Can(hookd.ScopeEndpointsRead) {
		ep, err = u.store.EndpointGet(ctx, tenant, d.EndpointID)
		if err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
			return err
		}
	}
	now := u.now()
	p := u.newPage(s, "Delivery "+d.ID)
	p.Tenant, p.Nav = tenant, "deliveries"
	if d.State == hookd.StatePending {
		p.Flash = flash(r) // once the attempt is in, it speaks for itself
	}
	// While an attempt is due or under way, refresh so its result appears
	// without JavaScript.
	if d.State == hookd.StatePending && (d.NextAttemptAt.IsZero() || d.NextAttemptAt.Before(now.Add(30*time.Second))) {
		p.Refresh = 2
	}
	p.Data = struct {
		D        *hookd.Delivery
		Outcome  Outcome
		Attempts []attemptRow
		Next     string
		Event    *hookd.Event
		Data     string
		DataCut  bool
		Endpoint *hookd.Endpoint
		CanRetry bool
	}{d, DescribeOutcome(d.LastOutcome, d.LastStatus), rows, next, ev, data, dataCut, ep, s.Can(hookd.ScopeDeliveriesWrite)}
	u.render(w, http.StatusOK, "delivery", p)
	return nil
}

func prettyJSON(raw []byte, limit int) (string, bool) {
	var b bytes.Buffer
	if len(raw) > limit || json.Indent(&b, raw, "", "  ") != nil {
		b.Reset()
		b.Write(raw)
	}
	if b.Len() > limit {
		return strings.ToValidUTF8(string(b.Bytes()[:limit]), ""), true
	}
	return b.String(), false
}

// redactHeaders hides values that may carry credentials (custom headers
// such as Authorization or X-Api-Key set on the endpoint). Signature
// headers stay: they prove nothing without the secret and help debugging.
func redactHeaders(h map[string]string) []header {
	out := make([]header, 0, len(h))
	for k, v := range h {
		if sensitiveHeader(k) {
			v = "(hidden)"
		}
		out = append(out, header{k, v})
	}
	sortHeaders(out)
	return out
}

func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if strings.Contains(n, "signature") {
		return false
	}
	for _, w := range []string{"auth", "cookie", "token", "secret", "key", "password", "session", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func sortHeaders(h []header) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && strings.ToLower(h[j].Name) < strings.ToLower(h[j-1].Name); j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

func (u *UI) handleRetry(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	d, err := u.engine.Retry(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, u.link("t", tenant, "deliveries", d.ID)+"?done=retried", http.StatusSeeOther)
	return nil
}

// handleReplay redelivers an endpoint's failed deliveries in a time range.
// The first POST counts them and asks for confirmation; the second, with
// confirm=yes, redelivers them. Both walk the list by keyset, bounded by
// ReplayMax.
func (u *UI) handleReplay(w http.ResponseWriter, r *http.Request, s *session, tenant string) error {
	ctx := r.Context()
	e, err := u.store.EndpointGet(ctx, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := deliveryFilter{Status: "failed", EndpointID: e.ID, Since: r.PostForm.Get("since"), Until: r.PostForm.Get("until")}
	lp, err := f.params(tenant)
	if err == nil && (lp.Since.IsZero() || lp.Until.IsZero()) {
		err = hookd.Invalid("time range", "give both from and to")
	}
	p := u.newPage(s, "Replay failed deliveries")
	p.Tenant, p.Nav = tenant, "endpoints"
	if err != nil {
		p.Error = errMessage(err)
		p.Data = replayData{E: e, F: f}
		u.render(w, http.StatusBadRequest, "replay", p)
		return nil
	}
	if rc, ok := u.engine.(hookd.Recovery); ok {
		return u.replayJob(w, r, p, rc, e, f, lp)
	}
	ids, over, err := u.failedIDs(ctx, lp)
	if err != nil {
		return err
	}
	data := replayData{E: e, F: f, Count: len(ids), Over: over, Max: u.replayMax}
	if over {
		p.Error = fmt.Sprintf("More than %d failed deliveries fall in this range: narrow it and replay it in parts.", u.replayMax)
		p.Data = data
		u.render(w, http.StatusUnprocessableEntity, "replay", p)
		return nil
	}
	if r.PostForm.Get("confirm") != "yes" || len(ids) == 0 {
		p.Data = data
		u.render(w, http.StatusOK, "replay", p)
		return nil
	}
	n, err := u.retryMany(ctx, tenant, ids)
	if err != nil && n == 0 {
		return err
	}
	if err != nil {
		u.log.Warn("ui: replay stopped early", "tenant", tenant, "endpoint", e.ID, "retried", n, "of", len(ids), "err", err)
	}
	http.Redirect(w, r, u.link("t", tenant, "endpoints", e.ID)+"?done=replayed&n="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// replayJob replays through the engine's replay jobs: counting is a dry
// run, and confirming stores a job that redelivers in the background, paced
// by the endpoint's limits, however many deliveries the range holds.
func (u *UI) replayJob(w http.ResponseWriter, r *http.Request, p *page, rc hookd.Recovery, e *hookd.Endpoint, f deliveryFilter, lp hookd.DeliveryListParams) error {
	params := hookd.ReplayParams{Tenant: p.Tenant, EndpointID: e.ID, Since: lp.Since, Until: lp.Until, Status: hookd.ReplayStatusFailed}
	confirm := r.PostForm.Get("confirm") == "yes"
	params.DryRun = !confirm
	rp, err := rc.ReplayStart(r.Context(), params)
	if err != nil {
		return err
	}
	if !confirm || rp.Total == 0 {
		p.Data = replayData{E: e, F: f, Count: int(rp.Total)}
		u.render(w, http.StatusOK, "replay", p)
		return nil
	}
	http.Redirect(w, r, u.link("t", p.Tenant, "endpoints", e.ID)+"?done=replaying&n="+strconv.FormatInt(rp.Total, 10), http.StatusSeeOther)
	return nil
}

type replayData struct {
	E     *hookd.Endpoint
	F     deliveryFilter
	Count int
	Over  bool
	Max   int
}

// failedIDs collects the IDs of the deliveries lp selects, up to
// u.replayMax; over reports that there are more. Collecting first means the
// walk is not disturbed by the retries turning failed deliveries pending.
func (u *UI) failedIDs(ctx context.Context, lp hookd.DeliveryListParams) (ids []string, over bool, err error) {
	lp.Limit = min(hookd.MaxLimit, u.replayMax+1)
	for {
		ds, next, err := u.store.DeliveryList(ctx, lp)
		if err != nil {
			return nil, false, err
		}
		for _, d := range ds {
			if len(ids) == u.replayMax {
				return ids, true, nil
			}
			ids = append(ids, d.ID)
		}
		if next == "" {
			return ids, false, nil
		}
		lp.Cursor = next
	}
}

// retryMany redelivers ids with a few workers, returning how many it
// retried and the first error, after which it stops.
func (u *UI) retryMany(ctx context.Context, tenant string, ids []string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		n     atomic.Int64
		once  sync.Once
		first error
		work  = make(chan string)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if _, err := u.engine.Retry(ctx, tenant, id); err != nil {
					if hookd.ErrorCode(err) == hookd.ENOTFOUND {
						continue // removed by retention meanwhile
					}
					once.Do(func() { first = err; cancel() })
					continue
				}
				n.Add(1)
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return int(n.Load()), first
}

// flash turns a ?done= code into a message. Only known codes are shown,
// so a crafted link cannot put words on the page.
func flash(r *http.Request) string {
	q := r.URL.Query()
	switch q.Get("done") {
	case "retried":
		return "Redelivery queued: a new attempt is being made now."
	case "enabled":
		return "Endpoint enabled: deliveries resume."
	case "disabled":
		return "Endpoint disabled: new events are no longer delivered to it."
	case "replaying":
		n, _ := strconv.Atoi(q.Get("n"))
		if n == 1 {
			return "Replay started for 1 failed delivery: it runs in the background."
		}
		return fmt.Sprintf("Replay started for %d failed deliveries: it runs in the background, at the endpoint's pace.", max(n, 0))
	case "replayed":
		n, _ := strconv.Atoi(q.Get("n"))
		if n == 1 {
			return "Replay queued for 1 failed delivery."
		}
		return fmt.Sprintf("Replay queued for %d failed deliveries.", max(n, 0))
	}
	return ""
}
