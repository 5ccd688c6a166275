package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkPublishHTTP publishes over real HTTP to the real SQLite store
// and engine, from many concurrent clients, to one endpoint: the figure is
// the whole publish path, durable commit included.
func BenchmarkPublishHTTP(b *testing.B) {
	e := newEnv(b)
	e.createEndpoint("bench", e.admin, map[string]any{"url": "https://example.invalid/hooks", "enabled": false})
	url := e.srv.URL + "/v1/tenants/bench/events"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := n.Add(1)
			body := []byte(`{"id": "e` + strconv.FormatInt(id, 10) + `", "type": "order.created", "data": {"amount": 4200, "currency": "EUR"}}`)
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 202 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
