package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Event data carries these two members, first, so that a receiver finds
// them with two searches instead of decoding the body.
const (
	stampN    = `"bench_n":`
	stampSent = `"bench_sent":`
)

// parseStamp finds the event number and the publish's send time (Unix
// nanoseconds) in a delivered body. ok is false when the number is absent.
func parseStamp(body []byte) (n, sent int64, ok bool) {
	n, ok = intAfter(body, stampN)
	if !ok {
		return 0, 0, false
	}
	sent, _ = intAfter(body, stampSent)
	return n, sent, true
}

// intAfter parses the non-negative integer that follows key in b.
func intAfter(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var v int64
	digits := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false // would overflow
		}
		v = v*10 + d
		digits++
	}
	return v, digits > 0
}

// tally counts something and lets a caller wait until it reaches a target.
type tally struct {
	mu      sync.Mutex
	n       int64
	last    time.Time // of the latest add
	waiters []tallyWaiter
}

type tallyWaiter struct {
	target int64
	ch     chan time.Time
}

// add counts d more, which happened at at.
func (t *tally) add(d int64, at time.Time) {
	t.mu.Lock()
	t.n += d
	t.last = at
	t.waiters = slices.DeleteFunc(t.waiters, func(w tallyWaiter) bool {
		if t.n >= w.target {
			w.ch <- at
			return true
		}
		return false
	})
	t.mu.Unlock()
}

func (t *tally) value() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// wait blocks until the count reaches target and returns the time of the
// add that reached it (of the latest add, if it was reached before the
// call: the same when target is the final count), or reports false after
// timeout.
func (t *tally) wait(target int64, timeout time.Duration) (time.Time, bool) {
	t.mu.Lock()
	if t.n >= target {
		defer t.mu.Unlock()
		return t.last, true
	}
	ch := make(chan time.Time, 1)
	t.waiters = append(t.waiters, tallyWaiter{target, ch})
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-ch:
		return at, true
	case <-timer.C:
		return time.Time{}, false
	}
}

// samples collects durations for percentiles.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

// stats returns the count and the 50th, 99th percentiles and maximum in
// milliseconds (nearest rank).
func (s *samples) stats() (n int, p50, p99, maxMS float64) {
	s.mu.Lock()
	d := slices.Clone(s.d)
	s.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(d)
	return len(d), ms(percentile(d, 0.50)), ms(percentile(d, 0.99)), ms(d[len(d)-1])
}

// percentile returns the nearest-rank p-quantile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// receiver is a webhook endpoint that answers at once (or as scripted)
// and notes each event it gets: its number, in a bitmap that tells first
// arrivals from duplicates, and the time since its publish was sent.
type receiver struct {
	URL string
	ln  net.Listener
	srv *http.Server

	// answer, when set, decides the status of each request; seen says
	// whether event n arrived before. delay holds every answer back.
	answer func(n int64, seen bool, at time.Time) int
	delay  time.Duration

	seen   []atomic.Uint64 // bit n: event n arrived
	unique tally           // first arrivals of numbered events
	total  atomic.Int64    // every request
	dups   atomic.Int64    // later arrivals of a numbered event
	lat    *samples        // publish→receive of first arrivals; nil: none
	// latBelow limits lat to events numbered below it (the timed ones,
	// not the warm-up); 0 means all.
	latBelow int64

	closing chan struct{}
	bufs    sync.Pool
}

// newReceiver listens on addr ("127.0.0.1:0" for any port) for events
// numbered below max.
func newReceiver(addr string, max int64) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &receiver{
		URL:     "http://" + ln.Addr().String() + "/hook",
		ln:      ln,
		seen:    make([]atomic.Uint64, max/64+1),
		closing: make(chan struct{}),
		bufs:    sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return r, nil
}

// start serves; set answer, delay and lat before.
func (r *receiver) start() { go func() { _ = r.srv.Serve(r.ln) }() }

func (r *receiver) close() {
	close(r.closing)
	_ = r.srv.Close()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	r.total.Add(1)
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(req.Body, 4<<20))
	n, sent, ok := parseStamp(buf.Bytes())
	r.bufs.Put(buf)
	if err != nil {
		return
	}
	seen := false
	if ok && n < int64(len(r.seen))*64 {
		bit := uint64(1) << (n % 64)
		seen = r.seen[n/64].Or(bit)&bit != 0
		if seen {
			r.dups.Add(1)
		} else {
			if r.lat != nil && sent > 0 && (r.latBelow == 0 || n < r.latBelow) {
				r.lat.add(at.Sub(time.Unix(0, sent)))
			}
		}
	}
	status := http.StatusOK
	if r.answer != nil {
		status = r.answer(n, seen, at)
	}
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
		case <-r.closing:
		}
		t.Stop()
	}
	w.WriteHeader(status)
	// Counted once answered: a delivery is done when its answer is sent,
	// and the unique count is what scenarios wait for.
	if ok && !seen && status < 300 {
		r.unique.add(1, at)
	}
}

// The fan-out receiver runs in a child process: this binary, started with
// childEnv set, serves one counter and prints its address on stdout.
const childEnv = "HOOKD_BENCH_CHILD"

// runChildReceiver is the child's main: it counts the requests it gets,
// answers GET /count with the count, and exits when its stdin closes
// (the parent ended, whichever way).
func runChildReceiver() {
	var count atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench receiver:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, count.Load())
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		count.Add(1)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println("http://" + ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = srv.Serve(ln)
}

// childReceiver is the parent's handle on a child receiver.
type childReceiver struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.Closer
	c     *http.Client
}

func startChildReceiver() (*childReceiver, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=receiver")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("child receiver did not start: %w", err)
	}
	return &childReceiver{URL: line[:len(line)-1], cmd: cmd, stdin: stdin, c: &http.Client{Timeout: 5 * time.Second}}, nil
}

func (c *childReceiver) count(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/count", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// waitCount polls the child until it counted target requests. Polling is
// the only signal another process offers; every 5ms is finer than any
// figure it measures.
func (c *childReceiver) waitCount(target int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.count(context.Background())
		if err != nil {
			return time.Time{}, err
		}
		if n >= target {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the receiver got %d of %d requests in %s", n, target, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *childReceiver) close() error {
	c.stdin.Close()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil // it exits as told
	}
	return err
}
