package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

func TestRecoveryFlags(t *testing.T) {
	clearEnv(t)
	c, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.OpsTenant != "" || c.Serve.DisableAfter != 120*time.Hour || len(c.Serve.MetricsTenant) != 0 {
		t.Errorf("defaults: ops tenant %q, disable after %v, metrics tenants %v; want none, 120h, none",
			c.Serve.OpsTenant, c.Serve.DisableAfter, c.Serve.MetricsTenant)
	}
	c, err = parse(t, "serve", "--ops-tenant", "ops", "--disable-after", "0", "--metrics-tenant", "acme", "--metrics-tenant", "globex")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.OpsTenant != "ops" || c.Serve.DisableAfter != 0 || !slices.Equal(c.Serve.MetricsTenant, []string{"acme", "globex"}) {
		t.Errorf("flags: %+v", c.Serve)
	}
	t.Setenv("HOOKD_OPS_TENANT", "operators")
	t.Setenv("HOOKD_DISABLE_AFTER", "24h")
	t.Setenv("HOOKD_METRICS_TENANTS", "acme, initech,")
	c, err = parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.OpsTenant != "operators" || c.Serve.DisableAfter != 24*time.Hour || !slices.Equal(c.Serve.MetricsTenant, []string{"acme", "initech"}) {
		t.Errorf("environment: %+v", c.Serve)
	}
}

func TestRecoveryFlagsInvalid(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--ops-tenant", "ops tenant"}, "--ops-tenant"},
		{[]string{"serve", "--disable-after", "-1h"}, "--disable-after"},
		{[]string{"serve", "--metrics-tenant", "no/slash"}, "--metrics-tenant"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q does not mention %s", tc.args, stderr.String(), tc.want)
		}
	}
}

// serve --ops-tenant: an ordinary endpoint of that tenant receives
// delivery.failed when another tenant's delivery fails for good.
func TestServeOpsTenant(t *testing.T) {
	clearEnv(t)
	key := hookd.KeyPrefix + strings.Repeat("o", 32)
	errw := &lineWriter{re: regexp.MustCompile(`msg=listening addr=(\S+)`), found: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", filepath.Join(t.TempDir(), "hookd.db"),
		"--admin-key", key, "--allow-network", "127.0.0.0/8", "--ops-tenant", "ops"}
	go func() { done <- run(ctx, args, &lineWriter{}, errw) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop")
		}
	})
	var base string
	select {
	case addr := <-errw.found:
		base = "http://" + addr
	case code := <-done:
		t.Fatalf("serve exited %d:\n%s", code, errw.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not listen:\n%s", errw.String())
	}
	post := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d", path, res.StatusCode)
		}
	}
	ops := hookdtest.NewReceiver(t)
	down := hookdtest.NewReceiver(t)
	down.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	post("/v1/tenants/ops/endpoints", `{"url": "`+ops.URL+`", "event_types": ["delivery.failed"]}`)
	post("/v1/tenants/acme/endpoints", `{"url": "`+down.URL+`", "retry": {"schedule": []}}`)
	post("/v1/tenants/acme/events", `{"type": "order.created", "data": {}}`)
	var ev struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(ops.Wait(1)[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "delivery.failed" || ev.Data["tenant"] != "acme" {
		t.Fatalf("the ops endpoint got %+v, want acme's delivery.failed", ev)
	}
}
