package delivery

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/expr"
)

// leaseSlack is the least time a lease must still run beyond the endpoint's
// timeout for a request to start: the request then ends, one way or the
// other, while this node still holds the delivery.
const leaseSlack = time.Second

// drainLimit bounds what is read past the excerpt to keep a connection
// reusable; a longer body costs a new connection instead.
const drainLimit = 64 << 10

var excerptPool = sync.Pool{New: func() any { b := make([]byte, hookd.MaxResponseExcerpt); return &b }}

// attempt makes one attempt of j and hands its record to the writer.
func (e *Engine) attempt(c *epConf, j *job) {
	start := e.now()
	e.heldMu.Lock()
	lease := j.leaseUntil
	e.heldMu.Unlock()
	if lease.Sub(start) < c.timeout+leaseSlack {
		// Waited too long in the lane: another node may claim it as
		// soon as the lease ends, so do not send; hand it back.
		e.release(j)
		return
	}
	a := &hookd.Attempt{
		ID:         hookd.NewID(hookd.PrefixAttempt),
		Tenant:     j.d.Tenant,
		DeliveryID: j.d.ID,
		EndpointID: j.d.EndpointID,
		EventID:    j.d.EventID,
		Number:     j.d.Attempts + 1,
		StartedAt:  start,
		RetryOf:    j.d.LastAttemptID,
		Manual:     j.manual || e.rec.takeMark(j.d.ID), // a retry or a replay
	}
	e.m.inflight.Inc()
	t0 := time.Now()
	resp, err := e.send(c, j, a)
	dur := time.Since(t0)
	e.m.inflight.Dec()
	if errors.Is(err, errAborted) {
		e.release(j) // shut down mid-request: not an outcome of the endpoint
		return
	}
	a.Duration = dur.Milliseconds()
	j.lane.observe(dur)
	e.m.observe(a.Outcome, dur)

	rec := hookd.AttemptRecord{Attempt: a, LeaseOwner: e.opts.Owner}
	if a.Outcome == hookd.OutcomeSucceeded {
		rec.State = hookd.StateSucceeded
	} else {
		now := e.now()
		// The policy counts from the delivery's creation, which for a
		// delivery dispatched at publish is its first attempt. A manual
		// retry of an exhausted delivery thus gets one attempt, not a
		// fresh schedule.
		next, ok := c.ep.Retry.Next(a.Number, j.d.CreatedAt, now, rand.Float64())
		if ok && resp != nil && (a.StatusCode == http.StatusTooManyRequests || a.StatusCode == http.StatusServiceUnavailable) {
			if at, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok && at.After(next) {
				next = at // later, never earlier
			}
		}
		if ok {
			rec.State, rec.NextAttemptAt, a.NextAttemptAt = hookd.StatePending, next, next
		} else {
			rec.State = hookd.StateFailed
		}
		if a.StatusCode == http.StatusGone {
			rec.DisableEndpoint = "410 Gone"
			j.lane.disable(rec.DisableEndpoint)
		}
	}
	e.record(rec, j)
}

// waitUntil waits for t on the engine's clock, reporting false if the
// engine stops first.
func (e *Engine) waitUntil(t time.Time) bool {
	d := t.Sub(e.now())
	if d <= 0 {
		return true
	}
	c, stop := e.opts.NewTimer(d)
	defer stop()
	select {
	case <-c:
		return true
	case <-e.runCtx.Done():
		return false
	}
}

// errAborted marks a request cut short by a hard stop.
var errAborted = errors.New("aborted by shutdown")

// send builds, signs and makes the request of attempt a, filling its
// outcome, status, error, response excerpt and request headers. It returns
// the response (body closed) when one came.
func (e *Engine) send(c *epConf, j *job, a *hookd.Attempt) (*http.Response, error) {
	if c.broken != "" {
		a.Outcome, a.Error = hookd.OutcomeHTTPError, "not sent: "+c.broken
		return nil, nil
	}
	body, err := e.body(c, j, a)
	if err != nil {
		a.Outcome, a.Error = hookd.OutcomeHTTPError, "not sent: "+err.Error()
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(e.sendCtx, c.timeout)
	defer cancel()
	// The static headers' value slices are shared, not copied: neither
	// the sender nor the signer changes them (Sign sets new slices).
	header := make(http.Header, len(c.header)+3)
	for k, v := range c.header {
		header[k] = v
	}
	c.signer.Sign(header, j.d.EventID, a.StartedAt, body)
	a.RequestHeaders = make(map[string]string, len(c.recorded)+3)
	for k, v := range c.recorded {
		a.RequestHeaders[k] = v
	}
	for k, v := range header {
		if _, ok := a.RequestHeaders[k]; !ok {
			a.RequestHeaders[k] = strings.Join(v, ", ")
		}
	}

	resp, err := e.client.Do(ctx, c.url, header, body)
	if err != nil {
		if e.sendCtx.Err() != nil {
			return nil, errAborted
		}
		a.Outcome, a.Error = classify(err, c.timeout)
		return nil, nil
	}
	a.StatusCode = resp.StatusCode
	a.Outcome = statusOutcome(resp.StatusCode)
	bp := excerptPool.Get().(*[]byte)
	n, rerr := io.ReadFull(resp.Body, *bp)
	a.Response = strings.ToValidUTF8(string((*bp)[:n]), "\uFFFD")
	excerptPool.Put(bp)
	if rerr == nil {
		_, rerr = io.CopyN(io.Discard, resp.Body, drainLimit)
	}
	resp.Body.Close()
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF && ctx.Err() != nil {
		if e.sendCtx.Err() != nil {
			return nil, errAborted
		}
		// The status came but the body did not finish in time.
		a.Outcome, a.Error = classify(rerr, c.timeout)
		return resp, nil
	}
	switch a.Outcome {
	case hookd.OutcomeRedirect:
		a.Error = "redirects are not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			a.Error = "redirect to " + clip(loc, 512) + " not followed"
		}
	case hookd.OutcomeHTTPError:
		a.Error = resp.Status
	}
	return resp, nil
}

// body renders the request body of attempt a: the endpoint's CEL body, or
// the default one, rendered once per event.
func (e *Engine) body(c *epConf, j *job, a *hookd.Attempt) ([]byte, error) {
	if c.body == nil {
		return j.ev.defaultBody(renderDefault)
	}
	return c.body.Render(expr.BodyVars{
		Event:      j.ev.ev,
		Attempt:    expr.AttemptVars{ID: a.ID, Number: a.Number, Timestamp: a.StartedAt, RetryOf: a.RetryOf},
		EndpointID: j.d.EndpointID,
		Tenant:     j.d.Tenant,
	})
}

func renderDefault(ev *hookd.Event) ([]byte, error) {
	var none *expr.Body
	return none.Render(expr.BodyVars{Event: ev})
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
