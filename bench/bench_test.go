package main

import (
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

// The fan-out scenario re-executes the running binary as its receiver;
// under go test that binary is the test binary.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "receiver" {
		runChildReceiver()
		return
	}
	os.Exit(m.Run())
}

func TestParseStamp(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"bench.e2e","timestamp":"2026-11-22T00:00:00Z","data":{"bench_n":42,"bench_sent":1732233600000000000,"pad":"xx"}}`)
	n, sent, ok := parseStamp(body)
	if !ok || n != 42 || sent != 1732233600000000000 {
		t.Fatalf("parseStamp = %d, %d, %v; want 42, 1732233600000000000, true", n, sent, ok)
	}
	for _, b := range []string{``, `{"data":{}}`, `{"bench_n":}`, `{"bench_n":-1}`, `{"bench_n":99999999999999999999}`} {
		if _, _, ok := parseStamp([]byte(b)); ok {
			t.Errorf("parseStamp(%q) ok, want not ok", b)
		}
	}
	if _, sent, ok := parseStamp([]byte(`{"bench_n":7}`)); !ok || sent != 0 {
		t.Errorf("without a send time: sent %d ok %v, want 0 true", sent, ok)
	}
}

// FuzzParseStamp holds the receivers' parser to what the publishers
// write, and to never panicking on anything else.
func FuzzParseStamp(f *testing.F) {
	f.Add(int64(0), int64(0), 0, []byte(`{"bench_n":`))
	f.Add(int64(12345), time.Now().UnixNano(), 1024, []byte(`"bench_sent":1`))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), 61, []byte{0xff, '"'})
	f.Fuzz(func(t *testing.T, n, sent int64, size int, junk []byte) {
		parseStamp(junk)
		if n < 0 || sent < 0 {
			return
		}
		body := appendEvent(nil, "bench.fuzz", n, sent, size%5000)
		gn, gsent, ok := parseStamp(body)
		if !ok || gn != n || gsent != sent {
			t.Fatalf("parseStamp(appendEvent(%d, %d)) = %d, %d, %v", n, sent, gn, gsent, ok)
		}
	})
}

func TestPercentile(t *testing.T) {
	var s samples
	for i := 1; i <= 100; i++ {
		s.add(time.Duration(i) * time.Millisecond)
	}
	n, p50, p99, mx := s.stats()
	if n != 100 || p50 != 50 || p99 != 99 || mx != 100 {
		t.Fatalf("stats = %d, %v, %v, %v; want 100, 50, 99, 100", n, p50, p99, mx)
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Fatalf("percentile of one = %v, want 7", got)
	}
}

func TestTallyWait(t *testing.T) {
	var c tally
	at := time.Unix(100, 0)
	done := make(chan time.Time)
	go func() {
		got, ok := c.wait(3, 10*time.Second)
		if !ok {
			t.Error("wait timed out")
		}
		done <- got
	}()
	// Add only once the waiter is registered, to test that path.
	for {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	c.add(1, time.Unix(1, 0))
	c.add(2, at)
	c.add(1, time.Unix(200, 0))
	if got := <-done; !got.Equal(at) {
		t.Fatalf("wait returned %v, want the time the target was reached, %v", got, at)
	}
	if got, ok := c.wait(4, time.Second); !ok || !got.Equal(time.Unix(200, 0)) {
		t.Fatalf("wait for a target reached before = %v, %v; want the latest add's time", got, ok)
	}
	if _, ok := c.wait(5, time.Millisecond); ok {
		t.Fatal("wait for an unreached target succeeded")
	}
}

// TestScenarios runs the scenarios at a tiny scale on SQLite: a smoke
// test that every delivery arrives, once, and is recorded.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hookd several times")
	}
	dir := t.TempDir()
	log := newLogger()
	b := &bench{
		cfg:     config{quick: true, events: 300, batchSize: 100, batchPublishers: 2, publishers: 16, maxInFlight: 16, dataSize: 256, fanout: 50, backlog: 500, retryProbes: 1, latencyRate: 50, latencyFor: time.Second, isolationRate: 5, isolationFor: time.Second},
		raw:     rawFigures{RPS: 10000},
		stores:  &stores{dir: dir, log: log},
		log:     log,
		results: map[string]*result{},
	}
	for _, name := range []string{"e2e", "batch", "latency", "fanout", "backlog", "isolation"} {
		t.Run(name, func(t *testing.T) {
			r := b.scenario(name)
			if r.Error != "" {
				t.Fatal(r.Error)
			}
			if r.Duplicates != 0 {
				t.Errorf("%d duplicates", r.Duplicates)
			}
			if r.Met == nil || r.headline == "" {
				t.Errorf("no verdict or headline: %+v", r)
			}
			switch name {
			case "e2e", "batch":
				if r.Deliveries != 300 || r.DeliveriesPerS <= 0 || r.CPUMSPerDelivery <= 0 {
					t.Errorf("deliveries %d at %.0f/s, %.3f ms CPU each", r.Deliveries, r.DeliveriesPerS, r.CPUMSPerDelivery)
				}
			case "latency":
				if r.Deliveries != 50 || r.P50MS <= 0 || r.RetryDelayMaxMS < 1000 {
					t.Errorf("%d latencies, p50 %.2f ms; retry after %.0f ms (scheduled 1s)", r.Deliveries, r.P50MS, r.RetryDelayMaxMS)
				}
			case "fanout":
				if r.Deliveries != 100 || r.Cold202MS <= 0 || r.FanoutDeliveredMS <= 0 {
					t.Errorf("fanout figures missing: %+v", r)
				}
			case "backlog":
				if r.DrainPerS <= 0 || r.RSSMiB <= 0 {
					t.Errorf("backlog figures missing: %+v", r)
				}
			case "isolation":
				if r.BaselineP99MS <= 0 || r.P99MS <= 0 || r.Deliveries != 5*80 {
					t.Errorf("isolation: %d healthy deliveries, p99 %.2f vs %.2f ms", r.Deliveries, r.P99MS, r.BaselineP99MS)
				}
			}
		})
	}
}

func TestConfigQuickDefaults(t *testing.T) {
	c := config{quick: true, batchSize: 5000, maxInFlight: 0}
	c.setDefaults()
	if c.events != 5000 || c.backlog != 10000 || c.fanout != 1000 || c.batchSize != 1000 || c.maxInFlight != 1 {
		t.Fatalf("quick defaults: %+v", c)
	}
}
