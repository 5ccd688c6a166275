// Package client is a small Go client for hookd's HTTP API: typed methods
// for the common work (endpoints, publishing, deliveries and redelivery)
// that return the domain types of package hookd, and an *Error carrying
// the API's RFC 9457 problem document when a request fails, so callers
// branch on its Code ("not_found", "invalid") and read the invalid fields.
//
// It holds no state beyond its configuration and is safe for concurrent
// use. Answers are read up to a bound, and a request body is sent as the
// caller gave it (CreateEndpoint takes any JSON-marshalable value, so an
// endpoint file can be sent as read, with fields this client does not
// know).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// DefaultServer is where hookd serve listens by default.
const DefaultServer = "http://127.0.0.1:8080"

// maxAnswer bounds the body of an answer: a page of 1,000 deliveries is a
// few hundred kilobytes; an event's data is at most a few megabytes.
const maxAnswer = 32 << 20

// Client calls one hookd server with one credential (an API key or an
// OAuth access token).
type Client struct {
	base *url.URL
	key  string
	hc   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of a client with a
// 60-second timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the server at server ("http://host:port", with
// an optional path prefix), authenticating with key.
func New(server, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server %q: want an http:// or https:// URL such as %s", server, DefaultServer)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{base: u, key: key, hc: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is a failed request: the API's problem document (RFC 9457), or,
// when the answer was not one, its status and the start of its body.
type Error struct {
	Status int
	// Type is "urn:hookd:problem:" and a code; see Code.
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Detail string             `json:"detail"`
	Fields []hookd.FieldError `json:"errors"`
}

// ProblemTypePrefix starts the Type of hookd's problem documents.
const ProblemTypePrefix = "urn:hookd:problem:"

// Code is the hookd error code of the problem ("not_found", "invalid",
// "unauthorized" …), or "" when the answer was not a problem document.
func (e *Error) Code() string { return strings.TrimPrefix(e.Type, ProblemTypePrefix) }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for _, f := range e.Fields {
		if !strings.Contains(e.Detail, f.Field+": ") {
			fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
		}
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 of the API.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Page is one page of a list; NextCursor, when set, fetches the next
// (ListOptions.Cursor).
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListOptions pages a list: Limit (1 to 1000; 0 means the server's
// default, 50) rows after Cursor.
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// CreatedEndpoint is the answer to a create: the endpoint and, this once,
// its signing secret.
type CreatedEndpoint struct {
	hookd.Endpoint
	Secret string `json:"secret"`
}

// CreateEndpoint creates an endpoint of tenant from body, anything that
// marshals to the API's endpoint object (a struct, a map, or the
// json.RawMessage of a file).
func (c *Client) CreateEndpoint(ctx context.Context, tenant string, body any) (*CreatedEndpoint, error) {
	var e CreatedEndpoint
	return &e, c.do(ctx, "POST", c.tenantPath(tenant, "endpoints"), nil, body, &e)
}

// ListEndpoints lists tenant's endpoints, newest first.
func (c *Client) ListEndpoints(ctx context.Context, tenant string, o ListOptions) (*Page[*hookd.Endpoint], error) {
	var p Page[*hookd.Endpoint]
	return &p, c.do(ctx, "GET", c.tenantPath(tenant, "endpoints"), o.query(), nil, &p)
}

// GetEndpoint reads one endpoint (never its secret).
func (c *Client) GetEndpoint(ctx context.Context, tenant, id string) (*hookd.Endpoint, error) {
	var e hookd.Endpoint
	return &e, c.do(ctx, "GET", c.tenantPath(tenant, "endpoints", id), nil, nil, &e)
}

// DeleteEndpoint deletes an endpoint and cancels its pending deliveries.
func (c *Client) DeleteEndpoint(ctx context.Context, tenant, id string) error {
	return c.do(ctx, "DELETE", c.tenantPath(tenant, "endpoints", id), nil, nil, nil)
}

// PublishedEvent answers a publish: the stored event, how many
// deliveries this request created, and whether the id was known already.
type PublishedEvent struct {
	hookd.Event
	DeliveryCount int  `json:"delivery_count"`
	Duplicate     bool `json:"duplicate"`
}

// PublishEvent publishes one event to tenant. Publishing an id again
// answers the stored event with Duplicate set and delivers nothing new.
func (c *Client) PublishEvent(ctx context.Context, tenant string, in hookd.EventInput) (*PublishedEvent, error) {
	var p PublishedEvent
	return &p, c.do(ctx, "POST", c.tenantPath(tenant, "events"), nil, in, &p)
}

// DeliveryFilter narrows ListDeliveries; zero fields do not filter.
type DeliveryFilter struct {
	ListOptions
	EndpointID string
	EventID    string
	EventType  string
	Status     hookd.DeliveryState
	Since      time.Time // created at or after
	Until      time.Time // created before
}

// ListDeliveries lists tenant's deliveries, newest first.
func (c *Client) ListDeliveries(ctx context.Context, tenant string, f DeliveryFilter) (*Page[*hookd.Delivery], error) {
	q := f.query()
	for k, v := range map[string]string{"endpoint_id": f.EndpointID, "event_id": f.EventID, "event_type": f.EventType, "status": string(f.Status)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	var p Page[*hookd.Delivery]
	return &p, c.do(ctx, "GET", c.tenantPath(tenant, "deliveries"), q, nil, &p)
}

// GetDelivery reads one delivery.
func (c *Client) GetDelivery(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	var d hookd.Delivery
	return &d, c.do(ctx, "GET", c.tenantPath(tenant, "deliveries", id), nil, nil, &d)
}

// ListAttempts lists a delivery's attempts, oldest first.
func (c *Client) ListAttempts(ctx context.Context, tenant, deliveryID string, o ListOptions) (*Page[*hookd.Attempt], error) {
	var p Page[*hookd.Attempt]
	return &p, c.do(ctx, "GET", c.tenantPath(tenant, "deliveries", deliveryID, "attempts"), o.query(), nil, &p)
}

// RetryDelivery redelivers a delivery now, whatever its state, and
// returns it as it stands once due again.
func (c *Client) RetryDelivery(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	var d hookd.Delivery
	return &d, c.do(ctx, "POST", c.tenantPath(tenant, "deliveries", id, "retry"), nil, nil, &d)
}

// tenantPath is /v1/tenants/{tenant}/… with every segment escaped.
func (c *Client) tenantPath(tenant string, parts ...string) string {
	var b strings.Builder
	b.WriteString("/v1/tenants/")
	b.WriteString(url.PathEscape(tenant))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// do sends one request and decodes a 2xx answer into out (unless nil),
// anything else into an *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	// path is escaped already (tenantPath), so it is appended as text.
	target := c.base.String() + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "hookd-client/"+hookd.Version)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("client: reading the answer to %s %s: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("client: the answer to %s %s is larger than %d bytes", method, path, maxAnswer)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return problem(res, b)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// problem turns a failed answer into an *Error.
func problem(res *http.Response, body []byte) error {
	e := &Error{Status: res.StatusCode}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "application/problem+json" && json.Unmarshal(body, e) == nil {
		e.Status = res.StatusCode
		return e
	}
	e.Detail = strings.TrimSpace(string(body))
	if len(e.Detail) > 200 {
		e.Detail = e.Detail[:200] + "…"
	}
	return e
}
