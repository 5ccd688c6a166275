package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// healthStatus answers /healthz and /readyz.
type healthStatus struct {
	Status string `json:"status"`
}

func healthz(c *call) error { return c.respond(http.StatusOK, healthStatus{Status: "ok"}) }

// readyTimeout bounds the store check of /readyz: a probe that hangs is
// as bad as one that fails.
const readyTimeout = 2 * time.Second

func readyz(c *call) error {
	if c.s.notReady.Load() {
		return hookd.Errorf(hookd.EUNAVAILABLE, "shutting down")
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), readyTimeout)
	defer cancel()
	if err := c.s.store.Ping(ctx); err != nil {
		c.s.log.Warn("readiness: the store does not answer", "err", err)
		return hookd.Errorf(hookd.EUNAVAILABLE, "the store does not answer")
	}
	return c.respond(http.StatusOK, healthStatus{Status: "ready"})
}

func serveMetrics(c *call) error {
	c.s.promHandler.ServeHTTP(c.w, c.r)
	return nil
}

func serveOpenAPI(c *call) error {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(c.s.openapi)))
	h.Set("Cache-Control", "public, max-age=3600")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(c.s.openapi)
	return nil
}
