package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
)

// HTTP server limits. Reads are bounded so a slow or hostile client cannot
// hold a connection open for free; writes get room for the slowest answer,
// a ping, which waits for an attempt of up to hookd.MaxTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = hookd.MaxTimeout + time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Run serves until env.ctx is cancelled (SIGTERM, SIGINT), then shuts down
// in order: readiness off, stop accepting and finish in-flight requests,
// stop the engine (finishing or releasing its attempts), close the store.
func (c *serveCmd) Run(env *runEnv) error {
	log := c.logger(env)
	ctx := env.ctx

	st, err := openStore(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	key, err := ensureAdminKey(ctx, st, c.AdminKey, time.Now())
	if err != nil {
		return err
	}
	if key != "" {
		// Printed on its own, not logged: it is the one time anyone sees it.
		fmt.Fprintf(env.stdout, "admin key (shown once): %s\n", key)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	disableAfter := c.DisableAfter
	if disableAfter == 0 {
		disableAfter = -1 // the engine's "never"
	}
	engine := delivery.New(st, delivery.Options{
		AllowNetworks:  c.allowed,
		Retention:      c.Retention,
		Logger:         log,
		Registerer:     registry,
		OpsTenant:      c.OpsTenant,
		DisableAfter:   disableAfter,
		MetricsTenants: c.MetricsTenant,
	})
	web, err := newWeb(ctx, st, engine, log, c.SigningKey)
	if err != nil {
		return err
	}
	apiHandler := api.New(api.Config{
		Store: st, Engine: engine, Logger: log, Registry: registry,
		OAuth: web.oauth, Authenticators: []api.Authenticator{web.oauth}, Portal: web.dashboard,
	})
	mux := http.NewServeMux()
	web.mount(mux)
	mux.Handle("/", apiHandler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Listen before the engine starts, so that a taken port fails the
	// start before anything is sent.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The engine outlives ctx: it is stopped explicitly, after the HTTP
	// server, so that requests in flight can still publish.
	if err := engine.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return fmt.Errorf("start delivery engine: %w", err)
	}
	// Scripts and tests read the port from this line (see the package doc).
	log.Info("listening", "addr", ln.Addr().String(), "version", hookd.Version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", c.ShutdownTimeout)
	case serveErr = <-served:
		log.Error("http server stopped", "err", serveErr)
	}

	apiHandler.SetReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown incomplete; closing connections", "err", err)
		_ = srv.Close()
	}
	if err := engine.Stop(shutdownCtx); err != nil {
		log.Warn("delivery engine stop incomplete", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}
