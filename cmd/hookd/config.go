package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// DatabaseFlags names the store; serve and migrate share it.
type DatabaseFlags struct {
	DatabaseURL string `name:"database-url" env:"HOOKD_DATABASE_URL" default:"sqlite:hookd.db" placeholder:"URL" help:"Where data lives: sqlite:PATH, a bare file path, or a postgres:// URL."`
}

// Validate rejects a URL openStore could not open before anything starts.
func (f *DatabaseFlags) Validate() error {
	_, err := parseDatabaseURL(f.DatabaseURL)
	return err
}

// serveCmd holds the flags of "hookd serve" (the contract in DESIGN.md,
// "Command line", plus a few operational ones).
type serveCmd struct {
	Addr string `env:"HOOKD_ADDR" default:"127.0.0.1:8080" placeholder:"HOST:PORT" help:"Address to listen on; port 0 picks a free one."`
	DatabaseFlags
	AdminKey        string        `name:"admin-key" env:"HOOKD_ADMIN_KEY" placeholder:"hk_…" help:"Admin API key to accept; created in the store if missing. Without it, one is generated and printed on first start."`
	AllowNetwork    []string      `name:"allow-network" env:"HOOKD_ALLOW_NETWORK" sep:"," placeholder:"CIDR" help:"Let deliveries reach this otherwise blocked network, e.g. 127.0.0.0/8; repeatable (the variable takes a comma-separated list)."`
	Retention       time.Duration `env:"HOOKD_RETENTION" default:"720h" help:"How long events, deliveries and attempts are kept; 0 keeps them forever."`
	SigningKey      string        `name:"signing-key" env:"HOOKD_SIGNING_KEY" placeholder:"SECRET" help:"Secret of at least 32 characters that signs dashboard sessions, portal links and OAuth consent forms. Default: a random key generated once and kept in the database, which every node shares."`
	OpsTenant       string        `name:"ops-tenant" env:"HOOKD_OPS_TENANT" placeholder:"TENANT" help:"Tenant that receives hookd's operational events (endpoint.disabled, endpoint.enabled, delivery.failed, delivery.recovered), published like any event so operators subscribe with ordinary endpoints. Off when empty."`
	DisableAfter    time.Duration `name:"disable-after" env:"HOOKD_DISABLE_AFTER" default:"120h" help:"Disable an endpoint whose every attempt has failed for this long; its pending deliveries wait until it is enabled again. 0 never disables."`
	MetricsTenant   []string      `name:"metrics-tenant" env:"HOOKD_METRICS_TENANTS" sep:"," placeholder:"TENANT" help:"Give this tenant's publishes and attempts metric series of their own; repeatable (the variable takes a comma-separated list). Other tenants only add to the totals."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"HOOKD_SHUTDOWN_TIMEOUT" default:"30s" help:"How long a graceful shutdown waits for requests and attempts in flight."`
	LogFormat       string        `name:"log-format" env:"HOOKD_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	LogLevel        string        `name:"log-level" env:"HOOKD_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Least severe level logged."`

	// allowed is AllowNetwork parsed by Validate.
	allowed []netip.Prefix
}

// minAdminKeyLength keeps a hand-picked admin key from being guessable:
// the prefix and at least 24 characters after it.
const minAdminKeyLength = len(hookd.KeyPrefix) + 24

// minSigningKeyLength asks for a signing key with as many characters as
// the dashboard wants random bytes, which a pass phrase of that length
// roughly provides.
const minSigningKeyLength = 32

// Validate checks what kong cannot: CIDRs, the admin key's form and the
// durations' signs. Kong reports its error as a usage error (exit 2).
func (c *serveCmd) Validate() error {
	var errs []error
	nets, err := parseNetworks(c.AllowNetwork)
	if err != nil {
		errs = append(errs, err)
	}
	c.allowed = nets
	if c.AdminKey != "" && (!hookd.LooksLikeAPIKey(c.AdminKey) || len(c.AdminKey) < minAdminKeyLength) {
		errs = append(errs, fmt.Errorf("--admin-key: must start with %q and be %d to 199 characters long", hookd.KeyPrefix, minAdminKeyLength))
	}
	if c.SigningKey != "" && len(c.SigningKey) < minSigningKeyLength {
		errs = append(errs, fmt.Errorf("--signing-key: must be at least %d characters", minSigningKeyLength))
	}
	if c.Retention < 0 {
		errs = append(errs, errors.New("--retention: must not be negative (0 keeps data forever)"))
	}
	if c.OpsTenant != "" && !hookd.ValidTenantID(c.OpsTenant) {
		errs = append(errs, errors.New("--ops-tenant: must match [A-Za-z0-9_.-]{1,64}"))
	}
	if c.DisableAfter < 0 {
		errs = append(errs, errors.New("--disable-after: must not be negative (0 never disables)"))
	}
	var tenants []string
	for _, t := range c.MetricsTenant {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !hookd.ValidTenantID(t) {
			errs = append(errs, fmt.Errorf("--metrics-tenant: %q must match [A-Za-z0-9_.-]{1,64}", t))
		}
		tenants = append(tenants, t)
	}
	c.MetricsTenant = tenants
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// parseNetworks parses --allow-network values: CIDRs, or single addresses
// meaning just that address. Empty items (a trailing comma in the
// environment variable) are ignored.
func parseNetworks(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf("--allow-network: %q is not a CIDR such as 127.0.0.0/8 or 10.0.0.0/8", v)
	}
	return out, nil
}

// logger builds the process logger from --log-format and --log-level.
func (c *serveCmd) logger(env *runEnv) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel)) // kong's enum admits only valid names
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}
