package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/e2e/hookdproc"
)

func TestMain(m *testing.M) { os.Exit(hookdproc.Main(m)) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startNode starts hookd serve on db, named name in failure reports.
func startNode(t *testing.T, name, db, adminKey string) *hookdproc.Process {
	t.Helper()
	return hookdproc.Start(t, hookdproc.Options{Name: name, Args: []string{
		"--database-url", db, "--admin-key", adminKey, "--allow-network", "127.0.0.0/8",
	}})
}

// arrivals counts the webhooks a receiver got, by webhook-id.
type arrivals struct {
	mu      sync.Mutex
	byID    map[string]int
	total   int
	changed chan struct{} // closed and replaced at each arrival
}

func newArrivals() *arrivals {
	return &arrivals{byID: map[string]int{}, changed: make(chan struct{})}
}

func (a *arrivals) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID[id]++
	a.total++
	close(a.changed)
	a.changed = make(chan struct{})
}

// waitFor waits until every id in want arrived at least once, and returns
// those still missing when timeout passes.
func (a *arrivals) waitFor(want []string, timeout time.Duration) []string {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		var missing []string
		for _, id := range want {
			if a.byID[id] == 0 {
				missing = append(missing, id)
			}
		}
		ch := a.changed
		a.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return missing
		}
	}
}

// duplicates returns how many requests repeated an id already received.
func (a *arrivals) duplicates() (dups, total int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total - len(a.byID), a.total
}

// publisher publishes events with ids of its own through the nodes in
// turn. A publish that gets no answer, or a 5xx, is retried with the same
// id on the next node, as a client would: the id makes it idempotent. An
// event counts as accepted once a node answered 202 (or 200: it was
// stored by an earlier try whose answer was lost).
type publisher struct {
	key    string
	tenant string

	mu       sync.Mutex
	nodes    []*hookdproc.Process
	next     int
	accepted []string
	retries  int
	statuses map[int]int // answers that were not 2xx, by status
}

func (p *publisher) pick() *hookdproc.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[p.next%len(p.nodes)]
	p.next++
	return n
}

// drop stops using n (it was killed).
func (p *publisher) drop(n *hookdproc.Process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.nodes {
		if x == n {
			p.nodes = append(p.nodes[:i:i], p.nodes[i+1:]...)
			return
		}
	}
}

func (p *publisher) publish(ctx context.Context, id string) error {
	body := map[string]any{"id": id, "type": "order.created", "data": map[string]any{"id": id}}
	for try := 0; ; try++ {
		n := p.pick()
		status, out, err := n.Do(p.key, "POST", "/v1/tenants/"+p.tenant+"/events", body)
		switch {
		case err == nil && (status == http.StatusAccepted || status == http.StatusOK):
			p.mu.Lock()
			p.accepted = append(p.accepted, id)
			p.mu.Unlock()
			return nil
		case err == nil && status < 500:
			return fmt.Errorf("publish %s on %s: %d %s", id, n.Name, status, out)
		}
		p.mu.Lock()
		p.retries++
		if err == nil {
			if p.statuses == nil {
				p.statuses = map[int]int{}
			}
			p.statuses[status]++
		}
		p.mu.Unlock()
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		// Back off a little: the node may be down or PostgreSQL
		// restarting.
		time.Sleep(time.Duration(min(try+1, 10)) * 20 * time.Millisecond)
	}
}

func (p *publisher) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.accepted...)
}
