package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// parse parses args as run does and returns the filled cli.
func parse(t *testing.T, args ...string) (*cli, error) {
	t.Helper()
	var c cli
	var out bytes.Buffer
	p, err := newParser(&c, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(args)
	return &c, err
}

// hookdEnv lists every variable hookd reads.
var hookdEnv = []string{"HOOKD_ADDR", "HOOKD_DATABASE_URL", "HOOKD_ADMIN_KEY", "HOOKD_ALLOW_NETWORK", "HOOKD_RETENTION", "HOOKD_SIGNING_KEY", "HOOKD_SHUTDOWN_TIMEOUT", "HOOKD_LOG_FORMAT", "HOOKD_LOG_LEVEL", "HOOKD_OPS_TENANT", "HOOKD_DISABLE_AFTER", "HOOKD_METRICS_TENANTS"}

// clearEnv unsets every HOOKD_ variable for the test (t.Setenv restores
// them after), so that a developer's environment does not change the
// defaults under test.
func clearEnv(t *testing.T) {
	for _, name := range hookdEnv {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

// TestEmptyEnvIsUnset: HOOKD_ADDR= and friends mean the default, not "".
func TestEmptyEnvIsUnset(t *testing.T) {
	for _, name := range hookdEnv {
		t.Setenv(name, "")
	}
	dropEmptyEnv()
	c, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.Addr != "127.0.0.1:8080" || c.Serve.Retention != 720*time.Hour || c.Serve.DatabaseURL != "sqlite:hookd.db" {
		t.Errorf("empty variables changed the defaults: %+v", c.Serve)
	}
}

func TestServeDefaults(t *testing.T) {
	clearEnv(t)
	c, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.Addr != "127.0.0.1:8080" {
		t.Errorf("addr = %q, want 127.0.0.1:8080", s.Addr)
	}
	if s.DatabaseURL != "sqlite:hookd.db" {
		t.Errorf("database-url = %q, want sqlite:hookd.db", s.DatabaseURL)
	}
	if s.Retention != 720*time.Hour {
		t.Errorf("retention = %v, want 720h", s.Retention)
	}
	if s.AdminKey != "" || len(s.allowed) != 0 {
		t.Errorf("admin key %q and networks %v, want none", s.AdminKey, s.allowed)
	}
}

// validKey is an admin key of the accepted form.
var validKey = hookd.KeyPrefix + strings.Repeat("k", 32)

func TestServeFlags(t *testing.T) {
	clearEnv(t)
	c, err := parse(t, "serve", "--addr", "127.0.0.1:0", "--database-url", "/tmp/x.db",
		"--admin-key", validKey, "--allow-network", "127.0.0.0/8", "--allow-network", "10.1.2.3/8,::1",
		"--retention", "24h")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.Addr != "127.0.0.1:0" || s.DatabaseURL != "/tmp/x.db" || s.AdminKey != validKey || s.Retention != 24*time.Hour {
		t.Errorf("flags not applied: %+v", s)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"), // masked
		netip.MustParsePrefix("::1/128"),    // a bare address is itself
	}
	if !slices.Equal(s.allowed, want) {
		t.Errorf("allowed = %v, want %v", s.allowed, want)
	}
}

func TestServeEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("HOOKD_ADDR", "127.0.0.1:9999")
	t.Setenv("HOOKD_DATABASE_URL", "sqlite:/var/lib/hookd/hookd.db")
	t.Setenv("HOOKD_ADMIN_KEY", validKey)
	t.Setenv("HOOKD_ALLOW_NETWORK", "10.0.0.0/8, 192.168.0.0/16,")
	t.Setenv("HOOKD_RETENTION", "48h")
	c, err := parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Serve
	if s.Addr != "127.0.0.1:9999" || s.DatabaseURL != "sqlite:/var/lib/hookd/hookd.db" || s.AdminKey != validKey || s.Retention != 48*time.Hour {
		t.Errorf("environment not applied: %+v", s)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}
	if !slices.Equal(s.allowed, want) {
		t.Errorf("allowed = %v, want %v", s.allowed, want)
	}

	// A flag beats its environment variable.
	c, err = parse(t, "serve", "--addr", "127.0.0.1:7777", "--allow-network", "172.16.0.0/12")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.Addr != "127.0.0.1:7777" || !slices.Equal(c.Serve.allowed, []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}) {
		t.Errorf("flags did not override the environment: addr %q, allowed %v", c.Serve.Addr, c.Serve.allowed)
	}
}

// TestUsageErrors runs the whole command line: each bad input must exit 2
// with a message naming the problem, before anything is opened.
func TestUsageErrors(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad CIDR", []string{"serve", "--allow-network", "10.0.0/8"}, nil, `"10.0.0/8" is not a CIDR`},
		{"bad CIDR in env", []string{"serve"}, map[string]string{"HOOKD_ALLOW_NETWORK": "127.0.0.0/8,nonsense"}, `"nonsense" is not a CIDR`},
		{"prefix too long", []string{"serve", "--allow-network", "10.0.0.0/33"}, nil, "is not a CIDR"},
		{"short admin key", []string{"serve", "--admin-key", "hk_short"}, nil, "--admin-key"},
		{"admin key without prefix", []string{"serve", "--admin-key", strings.Repeat("x", 40)}, nil, "--admin-key"},
		{"short signing key", []string{"serve", "--signing-key", "short"}, nil, "--signing-key"},
		{"negative retention", []string{"serve", "--retention", "-1h"}, nil, "--retention"},
		{"bad retention", []string{"serve", "--retention", "soon"}, nil, "retention"},
		{"unknown database scheme", []string{"serve", "--database-url", "mysql://db/hookd"}, nil, `unsupported scheme "mysql"`},
		{"empty sqlite path", []string{"migrate", "--database-url", "sqlite:"}, nil, "needs a file path"},
		{"unknown flag", []string{"serve", "--nope"}, nil, "--nope"},
		{"unknown command", []string{"frobnicate"}, nil, "frobnicate"},
		{"no command", nil, nil, "expected one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("version: exit %d: %s", code, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != hookd.Version {
		t.Errorf("version printed %q, want %q", got, hookd.Version)
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"serve", "--help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("serve --help: exit %d", code)
	}
	for _, flag := range []string{"--addr", "--database-url", "--admin-key", "--allow-network", "--retention", "HOOKD_ALLOW_NETWORK"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("serve --help does not mention %s:\n%s", flag, stdout.String())
		}
	}
}
