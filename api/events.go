package api

import (
	"fmt"
	"net/http"

	"github.com/hookd/hookd"
)

// publishedEvent answers a publish: the event's fields, flat, plus what
// this request did with it. DeliveryCount is the number of deliveries the
// request created: 0 for a duplicate, whose deliveries were made by the
// publish that first stored it.
type publishedEvent struct {
	*hookd.Event
	DeliveryCount int `json:"delivery_count"`
	// Duplicate is true when the id was known: nothing new was stored and
	// the event shown is the one stored first.
	Duplicate bool `json:"duplicate"`
}

// batchBody publishes up to hookd.MaxBatch events at once.
type batchBody struct {
	Events []hookd.EventInput `json:"events"`
}

// batchResult answers a batch with one result per event, in order.
type batchResult struct {
	Data []publishedEvent `json:"data"`
}

// prepare completes a validated input: hookd names events the caller did
// not, and times are kept in UTC.
func prepare(in *hookd.EventInput) {
	if in.ID == "" {
		in.ID = hookd.NewID(hookd.PrefixEvent)
	}
	if in.OccurredAt != nil {
		t := in.OccurredAt.UTC()
		in.OccurredAt = &t
	}
}

func publishEvent(c *call) error {
	var in [1]hookd.EventInput
	if err := c.decode(&in[0], c.s.maxBody); err != nil {
		return err
	}
	if err := in[0].Validate(""); err != nil {
		return err
	}
	prepare(&in[0])
	res, err := c.s.engine.Publish(c.r.Context(), c.tenant, in[:])
	if err != nil {
		return err
	}
	if len(res) != 1 || res[0].Event == nil {
		return fmt.Errorf("engine answered %d results for 1 event", len(res))
	}
	st := http.StatusAccepted
	if res[0].Duplicate {
		st = http.StatusOK
	}
	out := [1]publishedEvent{{Event: res[0].Event, DeliveryCount: res[0].DeliveryCount, Duplicate: res[0].Duplicate}}
	return c.respondPublished(st, out[:], false)
}

func publishBatch(c *call) error {
	var b batchBody
	if err := c.decode(&b, c.s.maxBatch); err != nil {
		return err
	}
	if err := hookd.ValidateBatch(b.Events); err != nil {
		return err
	}
	for i := range b.Events {
		if n := int64(len(b.Events[i].Data)); n > c.s.maxBody {
			return hookd.Errorf(hookd.ETOOLARGE, "events[%d].data is larger than %d bytes", i, c.s.maxBody)
		}
		prepare(&b.Events[i])
	}
	res, err := c.s.engine.Publish(c.r.Context(), c.tenant, b.Events)
	if err != nil {
		return err
	}
	if len(res) != len(b.Events) {
		return fmt.Errorf("engine answered %d results for %d events", len(res), len(b.Events))
	}
	out := make([]publishedEvent, len(res))
	for i, r := range res {
		if r.Event == nil {
			return fmt.Errorf("engine answered no event for events[%d]", i)
		}
		out[i] = publishedEvent{Event: r.Event, DeliveryCount: r.DeliveryCount, Duplicate: r.Duplicate}
	}
	return c.respondPublished(http.StatusAccepted, out, true)
}

func listEvents(c *call) error {
	evs, next, err := c.s.store.EventList(c.r.Context(), hookd.EventListParams{
		ListParams: c.q.ListParams, Tenant: c.tenant, Type: c.q.Type, Since: c.q.Since, Until: c.q.Until,
	})
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(evs, next))
}

func getEvent(c *call) error {
	e, err := c.s.store.EventGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, e)
}
