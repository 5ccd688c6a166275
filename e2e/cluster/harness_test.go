package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	binary   string // the hookd executable built for this run
	adminURL string // where databases are created
	skipMsg  string // why tests skip: no PostgreSQL
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	adminURL = os.Getenv("HOOKD_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		skipMsg = fmt.Sprintf("no PostgreSQL answers: %v", err)
		return m.Run()
	}
	conn.Close(ctx)
	dir, err := os.MkdirTemp("", "hookd-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hookd")
	build := exec.Command("go", "build", "-o", binary, "./cmd/hookd")
	build.Dir = "../.." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: building hookd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates a database for t, dropped when it ends, and
// returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "hookd_cluster_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The server may have been restarted meanwhile: connect afresh,
		// and retry while it comes up.
		for {
			conn, err := pgx.Connect(ctx, adminURL)
			if err == nil {
				_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				conn.Close(ctx)
			}
			if err == nil || ctx.Err() != nil {
				if err != nil {
					t.Errorf("drop database %s: %v", name, err)
				}
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func newAdminKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "hk_" + base64.RawURLEncoding.EncodeToString(b)
}

var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// node is one running hookd serve process.
type node struct {
	name string
	cmd  *exec.Cmd
	URL  string
	done chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

// startNode starts hookd serve on db and returns once it answers /healthz.
func startNode(t *testing.T, name, db, adminKey string) *node {
	t.Helper()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", db,
		"--admin-key", adminKey, "--allow-network", "127.0.0.0/8"}
	n := &node{name: name, done: make(chan struct{})}
	n.cmd = exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			n.cmd.Env = append(n.cmd.Env, kv)
		}
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() { defer copiers.Done(); n.scan(stdout, nil) }()
	go func() { defer copiers.Done(); n.scan(stderr, addr) }()
	go func() {
		copiers.Wait()
		_ = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", n.name, n.output())
		}
	})
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case <-n.done:
		t.Fatalf("%s exited before listening:\n%s", name, n.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen within 60s:\n%s", name, n.output())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer /healthz", name)
		}
		time.Sleep(20 * time.Millisecond) // nothing to wait on but the port
	}
}

func (n *node) scan(r io.Reader, found chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		n.mu.Lock()
		n.log.WriteString(line)
		n.log.WriteByte('\n')
		n.mu.Unlock()
		if found != nil {
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				found <- m[1]
				found = nil
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (n *node) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

var client = &http.Client{Timeout: 30 * time.Second}

// call sends a JSON request with key and returns the status and body; err
// is set only when no answer came.
func (n *node) call(key, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
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
	nodes    []*node
	next     int
	accepted []string
	retries  int
	statuses map[int]int // answers that were not 2xx, by status
}

func (p *publisher) pick() *node {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[p.next%len(p.nodes)]
	p.next++
	return n
}

// drop stops using n (it was killed).
func (p *publisher) drop(n *node) {
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
		status, out, err := n.call(p.key, "POST", "/v1/tenants/"+p.tenant+"/events", body)
		switch {
		case err == nil && (status == http.StatusAccepted || status == http.StatusOK):
			p.mu.Lock()
			p.accepted = append(p.accepted, id)
			p.mu.Unlock()
			return nil
		case err == nil && status < 500:
			return fmt.Errorf("publish %s on %s: %d %s", id, n.name, status, out)
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
