package delivery

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/expr"
	"github.com/hookd/hookd/signature"
)

// epConf is an endpoint prepared for sending: expressions compiled, the
// signer keyed, the static headers built. It is immutable; a change to the
// endpoint makes a new one.
type epConf struct {
	ep     *hookd.Endpoint
	lane   *lane
	filter *expr.Filter // nil: every event
	body   *expr.Body   // nil: the default body
	signer *signature.Signer
	// filterErr is set when the filter does not compile (any more): the
	// endpoint then gets no events, as for a filter that is false.
	filterErr error
	// broken says why no request can be built (a secret or a body that
	// does not compile any more); attempts then fail without sending.
	broken   string
	timeout  time.Duration
	url      *url.URL          // ep.URL, parsed once
	header   http.Header       // Content-Type, User-Agent and the endpoint's own
	recorded map[string]string // the same as recorded in attempts, secrets redacted
}

// newConf prepares ep. It never fails: what cannot be prepared makes the
// endpoint's attempts fail with a message saying why.
func newConf(ep *hookd.Endpoint) *epConf {
	c := &epConf{ep: ep, timeout: time.Duration(ep.Timeout)}
	if c.timeout <= 0 {
		c.timeout = hookd.DefaultTimeout
	}
	var err error
	if c.url, err = url.Parse(ep.URL); err != nil {
		c.broken = "bad URL: " + err.Error()
	}
	c.filter, c.filterErr = expr.CompileFilter(ep.Filter)
	if c.body, err = expr.CompileBody(ep.Body); err != nil {
		c.broken = "body does not compile: " + err.Error()
	}
	secrets := make([]signature.Secret, len(ep.Secrets))
	for i, s := range ep.Secrets {
		secrets[i] = signature.Secret{Value: s.Value, ExpiresAt: s.ExpiresAt}
	}
	if c.signer, err = signature.NewSigner(ep.Signature.Scheme, ep.Signature.Header, secrets...); err != nil {
		c.broken = "cannot sign: " + err.Error()
	}
	ua := "hookd/" + hookd.Version
	c.header = make(http.Header, len(ep.Headers)+2)
	c.recorded = make(map[string]string, len(ep.Headers)+5)
	for k, v := range ep.Headers {
		k = http.CanonicalHeaderKey(k)
		c.header[k] = []string{v}
		if sensitiveHeader(k) {
			v = "[redacted]"
		}
		c.recorded[k] = v
	}
	c.header["Content-Type"] = []string{"application/json"}
	c.header["User-Agent"] = []string{ua}
	c.recorded["Content-Type"] = "application/json"
	c.recorded["User-Agent"] = ua
	return c
}

// sensitiveHeader reports whether an endpoint's own header probably holds a
// credential, which the attempt log must not keep.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"auth", "token", "secret", "key", "cookie", "pass", "credential", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// tenantCache holds the prepared endpoints of one tenant. Readers take the
// current snapshot without a lock; a load replaces it whole.
type tenantCache struct {
	gen        atomic.Uint64 // bumped by EndpointChanged
	mu         sync.Mutex    // one load at a time
	snap       atomic.Pointer[snapshot]
	refreshing atomic.Bool // a background reload is under way
}

type snapshot struct {
	gen    uint64
	loaded time.Time // wall clock: the TTL is not a domain time
	eps    []*epConf
	byID   map[string]*epConf
	// needSeq says a filter may read event.seq: Publish then numbers
	// the events before fan-out (hookd.SeqReserver).
	needSeq bool
}

func (e *Engine) tenant(name string) *tenantCache {
	if tc, ok := e.tenants.Load(name); ok {
		return tc.(*tenantCache)
	}
	tc, _ := e.tenants.LoadOrStore(name, &tenantCache{})
	return tc.(*tenantCache)
}

// endpoints returns tenant's prepared endpoints, loading them when absent
// or invalidated by EndpointChanged. A snapshot that merely outlived its
// TTL is still returned while a reload runs in the background, so that no
// publish waits for a tenant's endpoints to be read again. When a reload
// fails but an older snapshot exists, the older one is used: a store
// hiccup should not stop fan-out.
func (e *Engine) endpoints(ctx context.Context, tenant string) (*snapshot, error) {
	tc := e.tenant(tenant)
	if s := tc.snap.Load(); s != nil && s.gen == tc.gen.Load() {
		if time.Since(s.loaded) >= e.opts.EndpointTTL && e.enter() == nil {
			if !tc.refreshing.CompareAndSwap(false, true) {
				e.entered.Done()
				return s, nil
			}
			go func() {
				defer e.entered.Done()
				defer tc.refreshing.Store(false)
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				_, _ = e.load(ctx, tenant, tc)
			}()
		}
		return s, nil
	}
	return e.load(ctx, tenant, tc)
}

// load reads tenant's endpoints unless a fresh snapshot appeared while it
// waited for the lock.
func (e *Engine) load(ctx context.Context, tenant string, tc *tenantCache) (*snapshot, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	gen := tc.gen.Load()
	old := tc.snap.Load()
	if old != nil && old.gen == gen && time.Since(old.loaded) < e.opts.EndpointTTL {
		return old, nil
	}
	eps, err := e.store.EndpointListAll(ctx, tenant)
	if err != nil {
		if old != nil {
			e.log.Warn("reloading endpoints failed; using the cached ones", "tenant", tenant, "err", err)
			return old, nil
		}
		return nil, err
	}
	s := &snapshot{gen: gen, loaded: time.Now(), eps: make([]*epConf, 0, len(eps)), byID: make(map[string]*epConf, len(eps))}
	for _, ep := range eps {
		c := newConf(ep)
		c.lane = e.laneFor(ep.ID, c)
		s.eps = append(s.eps, c)
		s.byID[ep.ID] = c
		// A word test, not a parse: a filter that merely mentions "seq"
		// costs a reservation it did not need, never a wrong number.
		s.needSeq = s.needSeq || c.filter != nil && strings.Contains(ep.Filter, "seq")
		e.noteTimeout(c.timeout)
	}
	if old != nil {
		for id := range old.byID {
			if _, ok := s.byID[id]; !ok {
				e.endpointGone(id)
			}
		}
	}
	tc.snap.Store(s)
	return s, nil
}

// conf returns the prepared endpoint id of tenant, reloading the tenant once
// if it is unknown (created through another node, or since the last load).
func (e *Engine) conf(ctx context.Context, tenant, id string) (*epConf, error) {
	s, err := e.endpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if c := s.byID[id]; c != nil {
		return c, nil
	}
	e.tenant(tenant).gen.Add(1)
	if s, err = e.endpoints(ctx, tenant); err != nil {
		return nil, err
	}
	return s.byID[id], nil
}

// noteTimeout keeps the longest endpoint timeout seen, which sizes the
// leases of claims (taken before the endpoint of each delivery is known).
func (e *Engine) noteTimeout(d time.Duration) {
	for {
		cur := e.maxTimeout.Load()
		if int64(d) <= cur || e.maxTimeout.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// claimTimeout is the request timeout a claim's leases allow for (a claim
// leases before the endpoint of each delivery is known): the longest
// timeout of the endpoints this node has loaded, or the default before it
// has loaded any. So the leases follow the endpoints' actual timeouts,
// and a dead node's deliveries wait no longer than those timeouts plus the
// lease margin. A delivery of an endpoint first loaded by the claim, with
// a longer timeout, is handed back unsent (see attempt) and claimed again
// with a lease that fits: loading its endpoint noted the timeout.
func (e *Engine) claimTimeout() time.Duration {
	if d := time.Duration(e.maxTimeout.Load()); d > 0 {
		return d
	}
	return hookd.DefaultTimeout
}

// EndpointChanged invalidates tenant's cached endpoints and reloads them in
// the background, so lanes pick up new limits and secrets and a re-enabled
// endpoint's waiting deliveries are claimed at once.
func (e *Engine) EndpointChanged(tenant string) {
	e.tenant(tenant).gen.Add(1)
	if e.enter() != nil {
		return
	}
	go func() {
		defer e.entered.Done()
		ctx, cancel := context.WithTimeout(e.runCtx, 30*time.Second)
		defer cancel()
		if _, err := e.endpoints(ctx, tenant); err != nil {
			e.log.Warn("reloading endpoints", "tenant", tenant, "err", err)
		}
		e.kick()
	}()
}
