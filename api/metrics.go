package api

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's request metrics. Their route label is the route's
// pattern ("POST /v1/tenants/{tenant}/events"), never the raw path, so the
// number of series stays bounded whatever clients send.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_http_requests_total",
			Help: "HTTP requests answered by the API, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_http_request_duration_seconds",
			Help:    "Time to answer an API request, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_http_requests_in_flight",
			Help: "API requests being answered.",
		}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.inflight = register(reg, m.inflight)
	return m
}

// register registers c, or returns the collector already registered in
// its place, so that two Servers may share one registry (tests, reloads).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with a different metric: a wiring bug
	}
	return c
}

// routeMetrics are one route's series, resolved once so that a request
// costs no label hashing: the duration observer up front, and one counter
// per status code the first time that code is seen.
type routeMetrics struct {
	m        *metrics
	route    string
	duration prometheus.Observer
	codes    [500]atomic.Pointer[prometheus.Counter] // status 100..599
}

func (m *metrics) route(name string) *routeMetrics {
	return &routeMetrics{m: m, route: name, duration: m.duration.WithLabelValues(name)}
}

func (rm *routeMetrics) observe(code int, d time.Duration) {
	rm.duration.Observe(d.Seconds())
	if code == 0 {
		code = http.StatusOK // the handler wrote nothing; net/http sends 200
	}
	if code < 100 || code > 599 {
		rm.m.requests.WithLabelValues(rm.route, strconv.Itoa(code)).Inc()
		return
	}
	slot := &rm.codes[code-100]
	c := slot.Load()
	if c == nil {
		ctr := rm.m.requests.WithLabelValues(rm.route, strconv.Itoa(code))
		c = &ctr
		slot.Store(c)
	}
	(*c).Inc()
}

// recorder remembers the status a handler wrote, for the metrics and so
// that an error after the header was sent is logged, not written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
