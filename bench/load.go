package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// newLoadClient returns the client every publisher shares: keep-alive,
// with room for an idle connection per concurrent caller, so that no
// request pays a TCP handshake once the run is warm.
func newLoadClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: max(conc*2, 64),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// api calls one hookd node's API as a client would.
type apiClient struct {
	c    *http.Client
	base string
	key  string
}

// do sends body to path and returns the status and, when out is set, the
// decoded answer.
func (a *apiClient) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	// Read to the end, so that the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// publish sends one event body; anything but 202 is an error.
func (a *apiClient) publish(ctx context.Context, tenant string, body []byte) error {
	return a.expect(ctx, "/v1/tenants/"+tenant+"/events", body, http.StatusAccepted)
}

// publishBatch sends a batch body; anything but 202 is an error.
func (a *apiClient) publishBatch(ctx context.Context, tenant string, body []byte) error {
	return a.expect(ctx, "/v1/tenants/"+tenant+"/events/batch", body, http.StatusAccepted)
}

func (a *apiClient) expect(ctx context.Context, path string, body []byte, want int) error {
	st, err := a.do(ctx, http.MethodPost, path, body, nil)
	if err != nil {
		return err
	}
	if st != want {
		return fmt.Errorf("POST %s: status %d, want %d", path, st, want)
	}
	return nil
}

// endpointSpec is the part of an endpoint's create body a scenario sets.
type endpointSpec struct {
	URL         string            `json:"url"`
	EventTypes  []string          `json:"event_types,omitempty"`
	MaxInFlight int               `json:"max_in_flight,omitempty"`
	Timeout     string            `json:"timeout,omitempty"`
	Retry       map[string]any    `json:"retry,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

// createEndpoint creates an endpoint through the API and returns its id.
func (a *apiClient) createEndpoint(ctx context.Context, tenant string, spec endpointSpec) (string, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	st, err := a.do(ctx, http.MethodPost, "/v1/tenants/"+tenant+"/endpoints", body, &out)
	if err != nil {
		return "", err
	}
	if st != http.StatusCreated {
		return "", fmt.Errorf("create endpoint: status %d", st)
	}
	return out.ID, nil
}

func schedule(delays ...string) map[string]any { return map[string]any{"schedule": delays} }

// padding fills event data up to about dataSize bytes.
var padding = bytes.Repeat([]byte("x"), 4096)

// appendEvent appends a publish body whose data is about dataSize bytes
// and carries the event number n and the send time sent (Unix ns; 0 for
// none).
func appendEvent(b []byte, typ string, n, sent int64, dataSize int) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","data":{`...)
	b = append(b, stampN...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, ',')
	b = append(b, stampSent...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, `,"pad":"`...)
	// The fixed part of the data is about 60 bytes.
	b = append(b, padding[:min(max(dataSize-60, 0), len(padding))]...)
	return append(b, `"}}`...)
}

// appendBatch appends a batch body of events first…first+count-1.
func appendBatch(b []byte, typ string, first, count, sent int64, dataSize int) []byte {
	b = append(b, `{"events":[`...)
	for i := range count {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEvent(b, typ, first+i, sent, dataSize)
	}
	return append(b, "]}"...)
}

// counter hands out the numbers 0…max-1 to concurrent workers.
type counter struct {
	mu   sync.Mutex
	next int64
	max  int64
}

func (c *counter) take(k int64) (first, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first = c.next
	n = min(k, c.max-c.next)
	c.next += n
	return first, n
}
