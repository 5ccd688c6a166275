package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// newServer runs the real API on SQLite and returns a client of it with
// an admin key.
func newServer(t *testing.T) (*client.Client, *httptest.Server, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := delivery.New(st, delivery.Options{Owner: "client-test", Logger: log})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eng.Stop(ctx)
	})
	srv := httptest.NewServer(api.New(api.Config{Store: st, Engine: eng, Logger: log}))
	t.Cleanup(srv.Close)
	key := hookdtest.InsertAPIKey(t, st, "", hookd.ScopeAdmin)
	c, err := client.New(srv.URL+"/", key, client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, key
}

func TestClient(t *testing.T) {
	c, _, _ := newServer(t)
	ctx := t.Context()
	ep, err := c.CreateEndpoint(ctx, "acme", map[string]any{"url": "https://example.com/h", "event_types": []string{"a.*"}, "retry": map[string]any{"schedule": []string{"1m"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.ID == "" || ep.Secret == "" || ep.URL != "https://example.com/h" || len(ep.Retry.Schedule) != 1 || ep.Retry.Schedule[0] != hookd.Duration(time.Minute) {
		t.Fatalf("created %+v", ep)
	}
	// A file's bytes go as they are.
	if _, err := c.CreateEndpoint(ctx, "acme", json.RawMessage(`{"url": "https://example.com/raw"}`)); err != nil {
		t.Fatal(err)
	}
	p, err := c.ListEndpoints(ctx, "acme", client.ListOptions{Limit: 1})
	if err != nil || len(p.Data) != 1 || p.NextCursor == "" {
		t.Fatalf("page %+v, %v", p, err)
	}
	p, err = c.ListEndpoints(ctx, "acme", client.ListOptions{Limit: 1, Cursor: p.NextCursor})
	if err != nil || len(p.Data) != 1 || p.Data[0].ID != ep.ID {
		t.Fatalf("second page %+v, %v", p, err)
	}
	got, err := c.GetEndpoint(ctx, "acme", ep.ID)
	if err != nil || got.ID != ep.ID || got.Secrets != nil {
		t.Fatalf("get %+v, %v", got, err)
	}

	pub, err := c.PublishEvent(ctx, "acme", hookd.EventInput{ID: "e1", Type: "a.b", Data: json.RawMessage(`{"n":1}`)})
	if err != nil || pub.ID != "e1" || pub.DeliveryCount != 2 || pub.Duplicate { // both endpoints want a.b
		t.Fatalf("publish %+v, %v", pub, err)
	}
	pub, err = c.PublishEvent(ctx, "acme", hookd.EventInput{ID: "e1", Type: "a.b", Data: json.RawMessage(`{"n":1}`)})
	if err != nil || !pub.Duplicate {
		t.Fatalf("publish again %+v, %v", pub, err)
	}
	ds, err := c.ListDeliveries(ctx, "acme", client.DeliveryFilter{EventID: "e1", EndpointID: ep.ID, Since: time.Now().Add(-time.Hour)})
	if err != nil || len(ds.Data) != 1 || ds.Data[0].EndpointID != ep.ID {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	ds, err = c.ListDeliveries(ctx, "acme", client.DeliveryFilter{Status: hookd.StateSucceeded})
	if err != nil || len(ds.Data) != 0 {
		t.Fatalf("succeeded deliveries %+v, %v", ds, err)
	}
	d, err := c.RetryDelivery(ctx, "acme", ds2(t, c).ID)
	if err != nil || d.State != hookd.StatePending {
		t.Fatalf("retry %+v, %v", d, err)
	}
	if _, err := c.GetDelivery(ctx, "acme", d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListAttempts(ctx, "acme", d.ID, client.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteEndpoint(ctx, "acme", ep.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEndpoint(ctx, "acme", ep.ID)
	if !client.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func ds2(t *testing.T, c *client.Client) *hookd.Delivery {
	t.Helper()
	ds, err := c.ListDeliveries(t.Context(), "acme", client.DeliveryFilter{})
	if err != nil || len(ds.Data) == 0 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	return ds.Data[0]
}

func TestErrors(t *testing.T) {
	c, srv, _ := newServer(t)
	ctx := t.Context()
	_, err := c.CreateEndpoint(ctx, "acme", map[string]any{"url": "ftp://x", "timeout": "soon"})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 422 || e.Code() != "invalid" || len(e.Fields) != 2 {
		t.Fatalf("invalid endpoint: %#v", err)
	}
	// Path segments are escaped: an id cannot reach another route.
	_, err = c.GetEndpoint(ctx, "acme", "../../../api-keys")
	if !client.IsNotFound(err) {
		t.Fatalf("escaped id: %v", err)
	}
	_, err = c.ListEndpoints(ctx, "a b", client.ListOptions{})
	if !errors.As(err, &e) || e.Status != 422 {
		t.Fatalf("bad tenant: %v", err)
	}
	bad, _ := client.New(srv.URL, "hk_wrong", client.WithHTTPClient(srv.Client()))
	_, err = bad.ListEndpoints(ctx, "acme", client.ListOptions{})
	if !errors.As(err, &e) || e.Status != 401 || e.Code() != "unauthorized" || e.Error() == "" {
		t.Fatalf("wrong key: %v", err)
	}
	for _, s := range []string{"127.0.0.1:8080", "ftp://x", "http://", "http://h/?q=1", "::"} {
		if _, err := client.New(s, "k"); err == nil {
			t.Errorf("New(%q) accepted", s)
		}
	}
	// A server that answers something other than a problem document.
	other := httptest.NewServer(http404())
	defer other.Close()
	o, _ := client.New(other.URL, "k")
	_, err = o.GetEndpoint(ctx, "acme", "x")
	if !errors.As(err, &e) || e.Status != 404 || e.Code() != "" || e.Detail != "404 page not found" {
		t.Fatalf("plain 404: %#v", err)
	}
}

func http404() http.Handler { return http.NotFoundHandler() }
