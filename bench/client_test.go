package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkClient measures design change 2 of BENCHMARKS.md before it is
// made: the CPU of one delivery-sized exchange (1 KiB POST, 200, empty
// body, keep-alive, 64 at once) made with net/http's Transport, as hookd
// sends now, and made on the caller's goroutine over a connection it owns
// (write the request, http.ReadResponse), as a lane worker could. The
// server side is the same plain net/http server in both, so the difference
// of the cpu-µs/op figures is the client's. The direct client here is a
// measuring stick, not hookd code: no pool, TLS, timeouts or retries.
func BenchmarkClient(b *testing.B) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := ln.Addr().String()
	body := bytes.Repeat([]byte("x"), 1024)
	header := http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"hookd/bench"},
		"Webhook-Id":        {"evt_0123456789abcdef"},
		"Webhook-Timestamp": {"1732233600"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
	}
	const conc = 64

	cpuPerOp := func(b *testing.B, f func(pb *testing.PB)) {
		b.SetParallelism(conc / 2) // GOMAXPROCS 2 here
		cpu0 := cpuTime()
		b.RunParallel(f)
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	}

	b.Run("net_http", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: conc}
		defer tr.CloseIdleConnections()
		url := "http://" + addr + "/hook"
		cpuPerOp(b, func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header = header.Clone()
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})

	b.Run("direct", func(b *testing.B) {
		var mu sync.Mutex
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		cpuPerOp(b, func(pb *testing.PB) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			br, bw := bufio.NewReader(c), bufio.NewWriter(c)
			for pb.Next() {
				bw.WriteString("POST /hook HTTP/1.1\r\nHost: " + addr + "\r\n")
				for k, v := range header {
					bw.WriteString(k + ": " + v[0] + "\r\n")
				}
				bw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
				bw.Write(body)
				if err := bw.Flush(); err != nil {
					b.Error(err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}
