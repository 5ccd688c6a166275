package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// clientCommands are the API client's commands: the common work on a
// running server (endpoints, publishing, deliveries) without curl.
type clientCommands struct {
	Endpoint   endpointCmd   `cmd:"" help:"Create, list, show and delete endpoints."`
	Event      eventCmd      `cmd:"" help:"Publish events."`
	Deliveries deliveriesCmd `cmd:"" help:"List deliveries."`
	Delivery   deliveryCmd   `cmd:"" help:"Act on one delivery."`
}

// clientFlags are the flags of every client command.
type clientFlags struct {
	Server string `env:"HOOKD_SERVER" default:"http://127.0.0.1:8080" placeholder:"URL" help:"The hookd server."`
	Key    string `env:"HOOKD_KEY" placeholder:"hk_…" help:"API key (or OAuth access token) to call it with."`
	JSON   bool   `name:"json" help:"Print the API's JSON instead of a table."`
}

// tenantFlag names the tenant a command works in.
type tenantFlag struct {
	Tenant string `required:"" env:"HOOKD_TENANT" placeholder:"TENANT" help:"The tenant."`
}

func (t tenantFlag) validate() error {
	if !hookd.ValidTenantID(t.Tenant) {
		return fmt.Errorf("--tenant: %q must match [A-Za-z0-9_.-]{1,64}", t.Tenant)
	}
	return nil
}

// pageFlags page a list.
type pageFlags struct {
	Limit  int    `default:"50" help:"Rows per page, 1 to 1000."`
	Cursor string `placeholder:"CURSOR" help:"Start after this cursor (printed after a page that has more)."`
}

func (p pageFlags) options() (client.ListOptions, error) {
	if p.Limit < 1 || p.Limit > hookd.MaxLimit {
		return client.ListOptions{}, fmt.Errorf("--limit: must be between 1 and %d", hookd.MaxLimit)
	}
	return client.ListOptions{Limit: p.Limit, Cursor: p.Cursor}, nil
}

func (f clientFlags) client() (*client.Client, error) {
	if f.Key == "" {
		return nil, errors.New("no API key: give --key or set HOOKD_KEY")
	}
	return client.New(f.Server, f.Key)
}

// printJSON writes v indented, as the API answered it.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes rows under a header, in aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// moreHint tells, on stderr so that stdout stays one table, how to get
// the next page.
func moreHint(env *runEnv, next string) {
	if next != "" {
		fmt.Fprintf(env.stderr, "more: repeat with --cursor %s\n", next)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type endpointCmd struct {
	Create endpointCreateCmd `cmd:"" help:"Create an endpoint from a JSON file (the API's endpoint object, e.g. examples/NAME.json)."`
	List   endpointListCmd   `cmd:"" help:"List a tenant's endpoints, newest first."`
	Get    endpointGetCmd    `cmd:"" help:"Show one endpoint."`
	Delete endpointDeleteCmd `cmd:"" help:"Delete an endpoint and cancel its pending deliveries."`
}

// maxEndpointFile bounds the file endpoint create reads; the API takes
// at most 1 MiB.
const maxEndpointFile = 1 << 20

type endpointCreateCmd struct {
	clientFlags
	tenantFlag
	File string `short:"f" required:"" placeholder:"FILE.json" help:"The endpoint as JSON; - reads standard input."`
}

func (c *endpointCreateCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	body, err := readJSONFile(c.File, os.Stdin)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	e, err := cl.CreateEndpoint(env.ctx, c.Tenant, body)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, e)
	}
	fmt.Fprintf(env.stdout, "created endpoint %s for %s\n", e.ID, e.URL)
	fmt.Fprintf(env.stdout, "signing secret (shown once): %s\n", e.Secret)
	return nil
}

// readJSONFile reads a JSON document from path ("-": r), bounded.
func readJSONFile(path string, r io.Reader) (json.RawMessage, error) {
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEndpointFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxEndpointFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxEndpointFile)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON", path)
	}
	return json.RawMessage(b), nil
}

type endpointListCmd struct {
	clientFlags
	tenantFlag
	pageFlags
}

func (c *endpointListCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	o, err := c.options()
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	p, err := cl.ListEndpoints(env.ctx, c.Tenant, o)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, p)
	}
	rows := make([][]string, 0, len(p.Data))
	for _, e := range p.Data {
		state := "enabled"
		if !e.Enabled {
			state = "disabled"
			if e.DisabledReason != "" {
				state += " (" + e.DisabledReason + ")"
			}
		}
		rows = append(rows, []string{e.ID, e.URL, state, eventTypes(e.EventTypes), when(e.CreatedAt)})
	}
	if err := table(env.stdout, []string{"ID", "URL", "STATE", "EVENT TYPES", "CREATED"}, rows); err != nil {
		return err
	}
	moreHint(env, p.NextCursor)
	return nil
}

type endpointGetCmd struct {
	clientFlags
	tenantFlag
	ID string `arg:"" help:"The endpoint's ID."`
}

func (c *endpointGetCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	e, err := cl.GetEndpoint(env.ctx, c.Tenant, c.ID)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, e)
	}
	retry := "schedule " + durations(e.Retry.Schedule)
	if e.Retry.Backoff != nil {
		b, _ := json.Marshal(e.Retry.Backoff)
		retry = "backoff " + string(b)
	}
	rate := "unlimited"
	if e.RateLimit > 0 {
		rate = strconv.FormatFloat(e.RateLimit, 'g', -1, 64) + " requests/s"
	}
	sig := e.Signature.Scheme
	if e.Signature.Header != "" {
		sig += " (header " + e.Signature.Header + ")"
	}
	rows := [][]string{
		{"ID", e.ID}, {"URL", e.URL}, {"Description", orDash(e.Description)},
		{"Enabled", strconv.FormatBool(e.Enabled)}, {"Event types", eventTypes(e.EventTypes)},
		{"Timeout", short(time.Duration(e.Timeout))}, {"Retry", retry}, {"Signature", sig},
		{"Max in flight", strconv.Itoa(e.MaxInFlight)}, {"Rate limit", rate},
		{"Filter", orDash(e.Filter)}, {"Body", orDash(e.Body)},
		{"Created", when(e.CreatedAt)}, {"Updated", when(e.UpdatedAt)},
	}
	if e.DisabledReason != "" {
		rows = append(rows, []string{"Disabled because", e.DisabledReason})
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func durations(ds []hookd.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = short(time.Duration(d))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// short writes a duration as people do: 1h, not 1h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// eventTypes lists an endpoint's event types; none means all.
func eventTypes(ts []string) string {
	if len(ts) == 0 {
		return "*"
	}
	return strings.Join(ts, ",")
}

type endpointDeleteCmd struct {
	clientFlags
	tenantFlag
	ID string `arg:"" help:"The endpoint's ID."`
}

func (c *endpointDeleteCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := cl.DeleteEndpoint(env.ctx, c.Tenant, c.ID); err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": c.ID, "deleted": true})
	}
	fmt.Fprintf(env.stdout, "deleted endpoint %s\n", c.ID)
	return nil
}

type eventCmd struct {
	Publish eventPublishCmd `cmd:"" help:"Publish an event; it is delivered to every endpoint of the tenant that wants it."`
}

type eventPublishCmd struct {
	clientFlags
	tenantFlag
	Type string `required:"" placeholder:"TYPE" help:"The event type, e.g. order.created."`
	Data string `required:"" placeholder:"JSON" help:"The event's data: any JSON value, e.g. '{\"id\": 42}'."`
	ID   string `placeholder:"ID" help:"Your id for the event; publishing it again delivers nothing new."`
}

func (c *eventPublishCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	if !json.Valid([]byte(c.Data)) {
		return errors.New(`--data: is not valid JSON (quote strings: --data '"text"')`)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ev, err := cl.PublishEvent(env.ctx, c.Tenant, hookd.EventInput{ID: c.ID, Type: c.Type, Data: json.RawMessage(c.Data)})
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, ev)
	}
	if ev.Duplicate {
		fmt.Fprintf(env.stdout, "event %s was published before (%s); nothing new to deliver\n", ev.ID, when(ev.CreatedAt))
		return nil
	}
	plural := "deliveries"
	if ev.DeliveryCount == 1 {
		plural = "delivery"
	}
	fmt.Fprintf(env.stdout, "published event %s (%s): %d %s\n", ev.ID, ev.Type, ev.DeliveryCount, plural)
	return nil
}

type deliveriesCmd struct {
	List deliveriesListCmd `cmd:"" help:"List a tenant's deliveries, newest first."`
}

type deliveriesListCmd struct {
	clientFlags
	tenantFlag
	pageFlags
	Failed   bool   `help:"Only deliveries whose retries are exhausted (status failed)."`
	Status   string `placeholder:"STATUS" help:"Only deliveries in this status: pending, succeeded, failed or cancelled."`
	Since    string `placeholder:"TIME" help:"Only deliveries created at or after this RFC 3339 time, or this long ago (90m, 2h, 7d)."`
	Endpoint string `placeholder:"ID" help:"Only this endpoint's deliveries."`
	EventID  string `name:"event-id" placeholder:"ID" help:"Only this event's deliveries."`
}

func (c *deliveriesListCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	o, err := c.options()
	if err != nil {
		return err
	}
	f := client.DeliveryFilter{ListOptions: o, EndpointID: c.Endpoint, EventID: c.EventID, Status: hookd.DeliveryState(c.Status)}
	if c.Status != "" && !f.Status.Valid() {
		return errors.New("--status: must be pending, succeeded, failed or cancelled")
	}
	if c.Failed {
		if c.Status != "" && c.Status != string(hookd.StateFailed) {
			return errors.New("--failed and --status " + c.Status + " contradict each other")
		}
		f.Status = hookd.StateFailed
	}
	if c.Since != "" {
		if f.Since, err = parseSince(c.Since, time.Now()); err != nil {
			return err
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	p, err := cl.ListDeliveries(env.ctx, c.Tenant, f)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, p)
	}
	rows := make([][]string, 0, len(p.Data))
	for _, d := range p.Data {
		last := "-"
		if d.LastOutcome != "" {
			last = string(d.LastOutcome)
			if d.LastStatus != 0 {
				last += " " + strconv.Itoa(d.LastStatus)
			}
		}
		rows = append(rows, []string{d.ID, string(d.State), d.EventType, d.EndpointID, strconv.Itoa(d.Attempts), last, when(d.NextAttemptAt), when(d.CreatedAt)})
	}
	if err := table(env.stdout, []string{"ID", "STATUS", "EVENT TYPE", "ENDPOINT", "ATTEMPTS", "LAST", "NEXT ATTEMPT", "CREATED"}, rows); err != nil {
		return err
	}
	moreHint(env, p.NextCursor)
	return nil
}

// parseSince reads --since: an RFC 3339 time, or a duration before now
// (Go's units, and d for days).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseAgo(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since: %q is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a duration ago (90m, 2h, 7d)", s)
	}
	return now.Add(-d), nil
}

func parseAgo(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 100*365 {
			return 0, errors.New("bad days")
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	return hookd.ParseDuration(s)
}

type deliveryCmd struct {
	Retry deliveryRetryCmd `cmd:"" help:"Redeliver a delivery now, whatever its status."`
}

type deliveryRetryCmd struct {
	clientFlags
	tenantFlag
	ID string `arg:"" help:"The delivery's ID."`
}

func (c *deliveryRetryCmd) Run(env *runEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	d, err := cl.RetryDelivery(env.ctx, c.Tenant, c.ID)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, d)
	}
	fmt.Fprintf(env.stdout, "delivery %s is due now (status %s, %d attempts so far)\n", d.ID, d.State, d.Attempts)
	return nil
}
