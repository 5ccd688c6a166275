package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// rawFigures is the machine's reference: plain Go client to a plain Go
// server over loopback, keep-alive, 1 KiB bodies, 64 goroutines.
type rawFigures struct {
	RPS         float64 `json:"rps"`
	P50MS       float64 `json:"p50_ms"`
	CPUMSPerReq float64 `json:"cpu_ms_per_req"`
	// FsyncMS is the median time to write and fsync 4 KiB in the
	// directory of the SQLite files: what every commit waits for at
	// least once.
	FsyncMS float64 `json:"fsync_p50_ms"`
}

// measureFsync writes 4 KiB and fsyncs it n times in dir and returns the
// median time one took.
func measureFsync(dir string, n int) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := bytes.Repeat([]byte("x"), 4096)
	var d samples
	for i := range n {
		s := time.Now()
		if _, err := f.WriteAt(page, int64(i%16)*4096); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		d.add(time.Since(s))
	}
	_, p50, _, _ := d.stats()
	return round(p50, 2), nil
}

// measureRaw runs the raw reference for d. Its goroutines carry the
// profiler label phase=raw, so a CPU profile of a scenario can leave the
// adjacent reference out (go tool pprof -tagignore phase=raw).
func measureRaw(d time.Duration) (f rawFigures, err error) {
	pprof.Do(context.Background(), pprof.Labels("phase", "raw"), func(context.Context) {
		f, err = measureRawLabelled(d)
	})
	return f, err
}

func measureRawLabelled(d time.Duration) (rawFigures, error) {
	const conc = 64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rawFigures{}, err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	client := newLoadClient(conc)
	defer client.CloseIdleConnections()
	body := bytes.Repeat([]byte("x"), 1024)

	post := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("raw: status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm up: open the connections and let the runtime size its heap.
	warm, cancel := context.WithTimeout(context.Background(), d/5)
	runFor(warm, conc, post)
	cancel()

	var lat samples
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cpu0, t0 := cpuTime(), time.Now()
	n, err := runFor(ctx, conc, func(ctx context.Context) error {
		s := time.Now()
		err := post(ctx)
		if err == nil {
			lat.add(time.Since(s))
		}
		return err
	})
	el, cpu := time.Since(t0), cpuTime()-cpu0
	if err != nil {
		return rawFigures{}, err
	}
	_, p50, _, _ := lat.stats()
	return rawFigures{
		RPS:         round(float64(n)/el.Seconds(), 0),
		P50MS:       round(p50, 3),
		CPUMSPerReq: round(ms(cpu)/float64(n), 4),
	}, nil
}

// runFor runs f from conc goroutines until ctx ends and returns how many
// calls succeeded; the first error other than ctx's ends the run.
func runFor(ctx context.Context, conc int, f func(context.Context) error) (int64, error) {
	var (
		mu    sync.Mutex
		total int64
		first error
		wg    sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			var n int64
			for ctx.Err() == nil {
				if err := f(ctx); err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
					}
					break
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, first
}

// rawNow measures the raw rate again, briefly, for a scenario that reports
// a percentage of it: on a machine shared with other work, a reference
// taken minutes earlier can be off by a factor of two.
func (b *bench) rawNow() (rawFigures, error) {
	d := 2 * time.Second
	if b.cfg.quick {
		d = 500 * time.Millisecond
	}
	f, err := measureRaw(d)
	if err != nil {
		return f, fmt.Errorf("raw reference: %w", err)
	}
	return f, nil
}
