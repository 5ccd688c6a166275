package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// cli runs one client command against s and returns its exit status and
// output.
func (s *server) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append(args, "--server", s.base, "--key", testAdminKey)
	code = run(ctx, full, &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its standard output.
func (s *server) ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("hookd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var idRe = func(prefix string) *regexp.Regexp { return regexp.MustCompile(`\b` + prefix + `_[0-9A-Z]{26}\b`) }

func TestClientCommands(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "hookd.db"))
	t.Setenv("HOOKD_SERVER", "")
	t.Setenv("HOOKD_KEY", "")
	t.Setenv("HOOKD_TENANT", "")

	// An endpoint that can never be reached (the server allows no
	// private networks, so 127.0.0.1 is blocked) and is tried once.
	file := writeFile(t, "ep.json", `{"url": "http://127.0.0.1:9/hooks", "description": "orders", "event_types": ["order.*"], "retry": {"schedule": []}}`)
	out := s.ok(t, "endpoint", "create", "-f", file, "--tenant", "acme")
	epID := idRe("ep").FindString(out)
	if epID == "" || !strings.Contains(out, "signing secret (shown once): whsec_") {
		t.Fatalf("endpoint create printed:\n%s", out)
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
		URL    string `json:"url"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "endpoint", "create", "-f", file, "--tenant", "acme", "--json")), &created); err != nil || created.Secret == "" || created.URL != "http://127.0.0.1:9/hooks" {
		t.Fatalf("endpoint create --json: %+v %v", created, err)
	}

	out = s.ok(t, "endpoint", "list", "--tenant", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "EVENT TYPES") ||
		!strings.Contains(out, epID) || !strings.Contains(out, created.ID) || !strings.Contains(lines[1], "enabled") {
		t.Fatalf("endpoint list:\n%s", out)
	}
	var page struct {
		Data []hookd.Endpoint `json:"data"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "endpoint", "list", "--tenant", "acme", "--json")), &page); err != nil || len(page.Data) != 2 {
		t.Fatalf("endpoint list --json: %+v %v", page, err)
	}
	code, out, errs := s.cli(t, "endpoint", "list", "--tenant", "acme", "--limit", "1")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(errs, "more: repeat with --cursor ") {
		t.Fatalf("a page of one: %d\n%s\n%s", code, out, errs)
	}
	cursor := strings.TrimSpace(strings.TrimPrefix(errs, "more: repeat with --cursor "))
	if out2 := s.ok(t, "endpoint", "list", "--tenant", "acme", "--limit", "1", "--cursor", cursor); !strings.Contains(out2, epID) {
		t.Fatalf("second page:\n%s", out2)
	}

	out = s.ok(t, "endpoint", "get", epID, "--tenant", "acme")
	for _, want := range []string{"URL:", "http://127.0.0.1:9/hooks", "orders", "order.*", "standard-webhooks", "schedule []", "30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("endpoint get lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "whsec_") {
		t.Errorf("endpoint get shows a secret:\n%s", out)
	}

	// Publish: two endpoints want order.*, so two deliveries.
	out = s.ok(t, "event", "publish", "--tenant", "acme", "--type", "order.created", "--data", `{"id": 42}`, "--id", "ord_42")
	if !strings.Contains(out, "published event ord_42 (order.created): 2 deliveries") {
		t.Fatalf("event publish:\n%s", out)
	}
	out = s.ok(t, "event", "publish", "--tenant", "acme", "--type", "order.created", "--data", `{"id": 42}`, "--id", "ord_42")
	if !strings.Contains(out, "was published before") {
		t.Fatalf("publishing the same id again:\n%s", out)
	}
	var pub struct {
		ID            string `json:"id"`
		DeliveryCount int    `json:"delivery_count"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "event", "publish", "--tenant", "acme", "--type", "invoice.paid", "--data", `"x"`, "--json")), &pub); err != nil || pub.ID == "" || pub.DeliveryCount != 0 {
		t.Fatalf("publish --json: %+v %v", pub, err)
	}

	// The deliveries fail (blocked address, one attempt): --failed finds
	// them once the engine has recorded the attempts.
	var failed string
	deadline := time.Now().Add(15 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		failed = s.ok(t, "deliveries", "list", "--tenant", "acme", "--failed")
		if strings.Count(failed, "\n") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries never failed:\n%s", failed)
		}
		time.Sleep(wait)
	}
	if !strings.Contains(failed, "STATUS") || !strings.Contains(failed, "failed") || !strings.Contains(failed, "blocked") || !strings.Contains(failed, "order.created") {
		t.Fatalf("deliveries list --failed:\n%s", failed)
	}
	dlvID := idRe("dlv").FindString(failed)
	if out := s.ok(t, "deliveries", "list", "--tenant", "acme", "--endpoint", epID, "--since", "1h"); strings.Count(out, "\n") != 2 || !strings.Contains(out, epID) {
		t.Fatalf("deliveries list --endpoint --since 1h:\n%s", out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := s.ok(t, "deliveries", "list", "--tenant", "acme", "--since", future); strings.Count(out, "\n") != 1 {
		t.Fatalf("deliveries list --since the future:\n%s", out)
	}
	if out := s.ok(t, "deliveries", "list", "--tenant", "acme", "--status", "succeeded"); strings.Count(out, "\n") != 1 {
		t.Fatalf("deliveries list --status succeeded:\n%s", out)
	}
	var dl struct {
		Data []hookd.Delivery `json:"data"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "deliveries", "list", "--tenant", "acme", "--failed", "--json")), &dl); err != nil || len(dl.Data) != 2 || dl.Data[0].State != hookd.StateFailed {
		t.Fatalf("deliveries list --json: %+v %v", dl, err)
	}

	out = s.ok(t, "delivery", "retry", dlvID, "--tenant", "acme")
	if !strings.Contains(out, "delivery "+dlvID+" is due now") {
		t.Fatalf("delivery retry:\n%s", out)
	}

	out = s.ok(t, "endpoint", "delete", epID, "--tenant", "acme")
	if !strings.Contains(out, "deleted endpoint "+epID) {
		t.Fatalf("endpoint delete:\n%s", out)
	}
	code, _, errs = s.cli(t, "endpoint", "get", epID, "--tenant", "acme")
	if code != exitError || !strings.Contains(errs, "404 Not Found") || !strings.Contains(errs, "not found") {
		t.Fatalf("get after delete: exit %d, %s", code, errs)
	}
}

func TestClientCommandErrors(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "hookd.db"))
	t.Setenv("HOOKD_SERVER", "")
	t.Setenv("HOOKD_KEY", "")
	t.Setenv("HOOKD_TENANT", "")

	bad := writeFile(t, "bad.json", `{"url": "ftp://example.com", "retry": {"schedule": ["soon"]}}`)
	code, _, errs := s.cli(t, "endpoint", "create", "-f", bad, "--tenant", "acme")
	if code != exitError || !strings.Contains(errs, "422") || !strings.Contains(errs, "url") || !strings.Contains(errs, "retry.schedule") {
		t.Fatalf("an invalid endpoint: exit %d, %s", code, errs)
	}
	notJSON := writeFile(t, "x.json", `{"url": `)
	if code, _, errs := s.cli(t, "endpoint", "create", "-f", notJSON, "--tenant", "acme"); code != exitError || !strings.Contains(errs, "not valid JSON") {
		t.Fatalf("a file that is not JSON: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "endpoint", "create", "-f", filepath.Join(t.TempDir(), "none.json"), "--tenant", "acme"); code != exitError || !strings.Contains(errs, "no such file") {
		t.Fatalf("a missing file: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "event", "publish", "--tenant", "acme", "--type", "a", "--data", "{x"); code != exitError || !strings.Contains(errs, "--data") {
		t.Fatalf("bad --data: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "deliveries", "list", "--tenant", "acme", "--since", "yesterday"); code != exitError || !strings.Contains(errs, "--since") {
		t.Fatalf("bad --since: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "deliveries", "list", "--tenant", "acme", "--failed", "--status", "pending"); code != exitError || !strings.Contains(errs, "contradict") {
		t.Fatalf("--failed --status pending: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "deliveries", "list", "--tenant", "a b"); code != exitError || !strings.Contains(errs, "--tenant") {
		t.Fatalf("bad --tenant: exit %d, %s", code, errs)
	}
	if code, _, errs := s.cli(t, "endpoint", "list"); code != exitUsage || !strings.Contains(errs, "--tenant") {
		t.Fatalf("no --tenant: exit %d, %s", code, errs)
	}

	// A wrong key, no key, and the environment instead of flags.
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"endpoint", "list", "--tenant", "acme", "--server", s.base, "--key", "hk_wrong"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "401") {
		t.Fatalf("wrong key: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"endpoint", "list", "--tenant", "acme", "--server", s.base}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "HOOKD_KEY") {
		t.Fatalf("no key: exit %d, %s", code, errb.String())
	}
	t.Setenv("HOOKD_SERVER", s.base)
	t.Setenv("HOOKD_KEY", testAdminKey)
	t.Setenv("HOOKD_TENANT", "acme")
	out.Reset()
	if code := run(t.Context(), []string{"endpoint", "list"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "ID ") {
		t.Fatalf("from the environment: exit %d, %s %s", code, out.String(), errb.String())
	}
	t.Setenv("HOOKD_SERVER", "127.0.0.1:8080")
	if code := run(t.Context(), []string{"endpoint", "list"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "http://") {
		t.Fatalf("a server without scheme: exit %d, %s", code, errb.String())
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", time.Minute: "1m", 90 * time.Minute: "1h30m", 5 * time.Hour: "5h",
		time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-02-28T10:00:00Z":      time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC),
		"2025-02-28T10:00:00+01:00": time.Date(2025, 2, 28, 9, 0, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"2h":                        now.Add(-2 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"1.5d":                      now.Add(-36 * time.Hour),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-2h", "d", "-1d", "2025-02-28"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted", in)
		}
	}
}

// TestApplyExamples: "hookd endpoint create -f examples/NAME.json" is the
// one command that applies an example.
func TestApplyExamples(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "hookd.db"))
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.json"))
	if err != nil || len(files) != 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		out := s.ok(t, "endpoint", "create", "-f", f, "--tenant", "acme")
		id := idRe("ep").FindString(out)
		if id == "" {
			t.Fatalf("%s: %s", f, out)
		}
		var want, got hookd.Endpoint
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(s.ok(t, "endpoint", "get", id, "--tenant", "acme", "--json")), &got); err != nil {
			t.Fatal(err)
		}
		if want.Timeout == 0 {
			want.Timeout = got.Timeout // the default
		}
		if want.Retry.Schedule == nil && want.Retry.Backoff == nil {
			want.Retry = got.Retry // the default
		}
		if want.Signature.Scheme == "" {
			want.Signature.Scheme = hookd.SchemeStandardWebhooks
		}
		if got.URL != want.URL || got.Description != want.Description || got.Body != want.Body || got.Filter != want.Filter ||
			got.Timeout != want.Timeout || got.Signature != want.Signature || !reflect.DeepEqual(got.Retry, want.Retry) {
			t.Errorf("%s: stored\n%+v\nwant\n%+v", f, got, want)
		}
	}
}
