package api

import (
	"net/http"

	"github.com/hookd/hookd"
)

func listDeliveries(c *call) error {
	ds, next, err := c.s.store.DeliveryList(c.r.Context(), hookd.DeliveryListParams{
		ListParams: c.q.ListParams, Tenant: c.tenant,
		EndpointID: c.q.EndpointID, EventID: c.q.EventID, EventType: c.q.EventType,
		State: c.q.Status, Since: c.q.Since, Until: c.q.Until,
	})
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(ds, next))
}

func getDelivery(c *call) error {
	d, err := c.s.store.DeliveryGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, d)
}

func listDeliveryAttempts(c *call) error {
	id := c.r.PathValue("id")
	as, next, err := c.s.store.AttemptListByDelivery(c.r.Context(), c.tenant, id, c.q.ListParams)
	if err != nil {
		return err
	}
	if len(as) == 0 && c.q.Cursor == "" {
		// A pending delivery may have no attempts yet; one that does not
		// exist (or is another tenant's) is a 404.
		if _, err := c.s.store.DeliveryGet(c.r.Context(), c.tenant, id); err != nil {
			return err
		}
	}
	return c.respond(http.StatusOK, newPage(as, next))
}

func retryDelivery(c *call) error {
	d, err := c.s.engine.Retry(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusAccepted, d)
}
