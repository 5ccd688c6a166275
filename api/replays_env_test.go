package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// node is hookd in-process as serve wires it: the real SQLite store on a
// file, the delivery engine and the API, behind one HTTP server whose
// address survives restarts (close the engine and the store, open them
// again on the same file).
type node struct {
	t      *testing.T
	path   string
	mod    func(*delivery.Options)
	clock  *hookdtest.Clock // nil: the real clock
	admin  string
	srv    *httptest.Server
	cur    atomic.Pointer[http.Handler]
	store  *sqlite.Store
	eng    *delivery.Engine
	reg    *prometheus.Registry
	starts int
}

func newNode(t *testing.T, clock *hookdtest.Clock, mod func(*delivery.Options)) *node {
	t.Helper()
	n := &node{t: t, path: filepath.Join(t.TempDir(), "hookd.db"), mod: mod, clock: clock}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*n.cur.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(n.srv.Close)
	n.start()
	t.Cleanup(func() { n.stop(10 * time.Second) })
	return n
}

func (n *node) now() time.Time {
	if n.clock != nil {
		return n.clock.Now()
	}
	return time.Now()
}

func (n *node) start() {
	n.t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, n.path)
	if err != nil {
		n.t.Fatal(err)
	}
	n.starts++
	log := hookdtest.Logger(n.t, slog.LevelWarn)
	n.reg = prometheus.NewRegistry()
	opts := delivery.Options{
		Owner:          "node-" + string(rune('a'+n.starts)),
		AllowNetworks:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         log,
		Registerer:     n.reg,
		HealthInterval: 20 * time.Millisecond,
		ReplayPoll:     50 * time.Millisecond,
	}
	if n.clock != nil {
		opts.Now, opts.NewTimer = n.clock.Now, n.clock.NewTimer
	}
	if n.mod != nil {
		n.mod(&opts)
	}
	eng := delivery.New(st, opts)
	if err := eng.Start(ctx); err != nil {
		n.t.Fatal(err)
	}
	h := http.Handler(api.New(api.Config{Store: st, Engine: eng, Logger: log, Registry: n.reg, Now: n.now}))
	n.store, n.eng = st, eng
	n.cur.Store(&h)
	if n.admin == "" {
		n.admin = hookdtest.InsertAPIKey(n.t, st, "", hookd.ScopeAdmin)
	}
}

// stop stops the engine, waiting up to grace for requests under way, and
// closes the store.
func (n *node) stop(grace time.Duration) {
	if n.eng == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = n.eng.Stop(ctx)
	if err := n.store.Close(); err != nil {
		n.t.Errorf("closing the store: %v", err)
	}
	n.eng, n.store = nil, nil
}

// restart closes the engine and the store and opens them again on the
// same file, as a new process would.
func (n *node) restart() {
	n.t.Helper()
	n.stop(10 * time.Second)
	n.start()
}

// call makes a request with the admin key and decodes a JSON answer into
// out (if not nil), failing unless the status is want.
func (n *node) call(method, path string, body any, want int, out any) {
	n.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			n.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.srv.URL+path, r)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.admin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := n.srv.Client().Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		n.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			n.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// endpoint creates an endpoint of tenant from a JSON body and returns it.
func (n *node) endpoint(tenant, body string) *hookd.Endpoint {
	n.t.Helper()
	var e hookd.Endpoint
	n.call("POST", "/v1/tenants/"+tenant+"/endpoints", json.RawMessage(body), http.StatusCreated, &e)
	return &e
}

// publish publishes count events of type typ to tenant, in batches.
func (n *node) publish(tenant, typ string, count int) {
	n.t.Helper()
	for count > 0 {
		k := min(count, hookd.MaxBatch)
		evs := make([]map[string]any, k)
		for i := range evs {
			evs[i] = map[string]any{"type": typ, "data": map[string]int{"n": i}}
		}
		n.call("POST", "/v1/tenants/"+tenant+"/events/batch", map[string]any{"events": evs}, http.StatusAccepted, nil)
		count -= k
	}
}

// deliveries counts tenant's deliveries in state st (up to 10,000).
func (n *node) deliveries(tenant string, st hookd.DeliveryState) int {
	n.t.Helper()
	total, cursor := 0, ""
	for range 10 {
		var page struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor string            `json:"next_cursor"`
		}
		n.call("GET", "/v1/tenants/"+tenant+"/deliveries?limit=1000&status="+string(st)+"&cursor="+cursor, nil, http.StatusOK, &page)
		total += len(page.Data)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return total
}

// stats reads an endpoint's statistics through the API.
func (n *node) stats(tenant, id string) *hookd.EndpointStats {
	n.t.Helper()
	var st hookd.EndpointStats
	n.call("GET", "/v1/tenants/"+tenant+"/endpoints/"+id+"/stats", nil, http.StatusOK, &st)
	return &st
}

// waitSettled waits until the endpoint has no pending delivery.
func (n *node) waitSettled(ep *hookd.Endpoint) {
	n.t.Helper()
	pending := func() bool {
		var page struct{ Data []json.RawMessage }
		n.call("GET", "/v1/tenants/"+ep.Tenant+"/deliveries?limit=1&status=pending&endpoint_id="+ep.ID, nil, http.StatusOK, &page)
		return len(page.Data) > 0
	}
	eventually(n.t, 30*time.Second, func() bool { return !pending() },
		func() string { return fmt.Sprintf("%d deliveries still pending", n.stats(ep.Tenant, ep.ID).Pending) })
}

// replay reads a replay through the API.
func (n *node) replay(tenant, id string) *hookd.Replay {
	n.t.Helper()
	var r hookd.Replay
	n.call("GET", "/v1/tenants/"+tenant+"/replays/"+id, nil, http.StatusOK, &r)
	return &r
}

// eventually polls cond through the API until it holds, failing after
// timeout with what describe says.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, describe())
		}
		<-tick.C
	}
}

// gate holds a receiver's requests until tokens let them through, so a
// test decides how many succeed.
type gate struct {
	tokens chan struct{}
	open   chan struct{}
}

func newGate(t *testing.T, r *hookdtest.Receiver) *gate {
	g := &gate{tokens: make(chan struct{}, 100000), open: make(chan struct{})}
	r.Handle(func(*hookdtest.Request) hookdtest.Response {
		select {
		case <-g.tokens:
		case <-g.open:
		}
		return hookdtest.Response{Status: http.StatusNoContent}
	})
	t.Cleanup(g.release) // before the receiver closes: cleanups run last first
	return g
}

func (g *gate) let(n int) {
	for range n {
		g.tokens <- struct{}{}
	}
}

func (g *gate) release() {
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// oneAttempt is an endpoint body's retry policy of a single attempt.
const oneAttempt = `{"backoff": {"initial": "1s", "multiplier": 1, "max_attempts": 1}}`

func endpointBody(url string, extra ...string) string {
	return `{"url": "` + url + `", "retry": ` + oneAttempt + strings.Join(extra, "") + `}`
}
