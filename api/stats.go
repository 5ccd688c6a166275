package api

import (
	"net/http"

	"github.com/hookd/hookd"
)

// An endpoint's statistics come from bounded reads: the attempts of the
// last 24 hours up to the newest 10,000, pending deliveries up to
// 100,000, and the health hookd keeps per endpoint. A stats request costs
// the same on a table of a thousand rows or a billion.

func init() { routes = append(routes, statsRoutes...) }

var statsRoutes = []route{
	{id: "getEndpointStats", method: "GET", path: "/v1/tenants/{tenant}/endpoints/{id}/stats", scope: hookd.ScopeDeliveriesRead,
		summary: "An endpoint's health: success rate, attempt count and p50/p99 duration over the attempts of the last 24 hours " +
			"(at most the newest 10,000: window_start says where the window begins, truncated whether it was cut), pending count " +
			"(at most 100,000, pending_more beyond) and the oldest pending delivery's age, last success and failure, and since when " +
			"every attempt has failed",
		status: http.StatusOK, resp: typeOf[*hookd.EndpointStats](), serve: getEndpointStats},
}

func getEndpointStats(c *call) error {
	st, err := c.s.store.EndpointStatsGet(c.r.Context(), hookd.EndpointStatsParams{
		Tenant: c.tenant, EndpointID: c.r.PathValue("id"), Now: c.s.now().UTC(),
	})
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, st)
}
