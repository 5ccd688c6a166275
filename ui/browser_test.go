package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookd/hookd"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

var screenshots = flag.Bool("screenshots", false, "write the browser test's screenshots to docs/screenshots")

// TestBrowser drives a real headless Chromium against the dashboard on a
// real SQLite store with the real delivery engine: it signs in, finds the
// failed delivery (failed first), redelivers it and sees the new attempt
// succeed; then it opens a portal link and cannot see another tenant.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("the browser test needs %s (apt-get install chromium): %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("the browser test is skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The receiver fails the first request and accepts the rest.
	var hits atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if hits.Add(1) == 1 {
			http.Error(w, "upstream database is read-only", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"received":true}`)
	}))
	defer recv.Close()

	// Every committed attempt is reported, so the test waits on the
	// engine instead of polling the store.
	recorded := make(chan hookd.AttemptRecord, 64)
	e := newEnv(t, func(o *envOptions) {
		o.engine = func(t *testing.T, s hookd.Store) hookd.Engine {
			return startEngine(t, s, func(recs []hookd.AttemptRecord) {
				for _, r := range recs {
					select {
					case recorded <- r:
					default:
					}
				}
			})
		}
	})
	key := e.adminKey()

	// Other endpoints and tenants, so the pages have something to show
	// and the portal something to hide. They subscribe to other event
	// types than the one published, so the engine never dials them: tests
	// reach nothing but loopback.
	types := func(ts ...string) func(*hookd.Endpoint) {
		return func(ep *hookd.Endpoint) { ep.EventTypes = ts }
	}
	erp := e.endpoint("acme", "https://erp.acme.example/webhooks", types("invoice.*"))
	crm := e.endpoint("acme", "https://crm.acme.example/hooks/hookd", types("customer.*"))
	for i, o := range []hookd.Outcome{hookd.OutcomeSucceeded, hookd.OutcomeSucceeded, hookd.OutcomeRedirect, hookd.OutcomeSucceeded, hookd.OutcomeHTTPError, hookd.OutcomeSucceeded} {
		e.deliver(erp, seed{typ: []string{"invoice.paid", "invoice.created"}[i%2], outcomes: []hookd.Outcome{o}, statuses: []int{[]int{200, 200, 302, 204, 404, 200}[i]}})
	}
	e.deliver(crm, seed{typ: "customer.updated", outcomes: []hookd.Outcome{hookd.OutcomeTimeout, hookd.OutcomeTLSError}})
	e.deliver(crm, seed{typ: "customer.created", outcomes: []hookd.Outcome{hookd.OutcomeBlocked}})
	globex := e.endpoint("globex", "https://globex.example/hooks", types("invoice.*"))
	secret := e.failed(globex, hookd.OutcomeHTTPError, 500)

	// The endpoint under test makes one attempt, so its first failure is final.
	now := time.Now().UTC()
	ep := &hookd.Endpoint{
		ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: "acme", URL: recv.URL + "/hooks/orders",
		Description: "orders to the fulfilment service", Enabled: true, CreatedAt: now, UpdatedAt: now,
		EventTypes: []string{"order.*"},
		Secrets:    []hookd.Secret{{Value: hookd.NewSecret()}},
		Retry:      hookd.RetryPolicy{Backoff: &hookd.Backoff{Initial: hookd.Duration(time.Hour), Multiplier: 1, MaxAttempts: 1}},
	}
	ep.Normalize()
	if err := e.store.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	e.eng.EndpointChanged("acme")
	res, err := e.eng.Publish(ctx, "acme", []hookd.EventInput{{Type: "order.created", Data: json.RawMessage(`{"order":"A-1042","total":"129.90","currency":"EUR"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	var rec hookd.AttemptRecord
	select {
	case rec = <-recorded:
	case <-ctx.Done():
		t.Fatal("no attempt was recorded")
	}
	if rec.State != hookd.StateFailed || rec.Attempt.EventID != res[0].Event.ID {
		t.Fatalf("first attempt: %+v %+v, want the failed attempt of the published event %s to %s", rec, *rec.Attempt, res[0].Event.ID, ep.ID)
	}
	failed := e.delivery("acme", rec.Attempt.DeliveryID)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	shots := map[string][]byte{}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			b, err := chromedp.CaptureScreenshot()(ctx, tg)
			shots[name] = b
			return err
		})
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// get runs one action that returns a value.
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	base := e.srv.URL

	// Sign in. The key field has the focus, and on the next page the
	// first Tab lands on the skip link: keyboard use works from the top.
	do("sign-in page",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		shot("signin"),
	)
	if id := get("focus", chromedp.Evaluate[string](`document.activeElement.id`)); id != "key" {
		t.Errorf("the sign-in page focuses %q, want the key field", id)
	}
	do("sign in",
		chromedp.SendKeys(chromedp.ID("key"), key),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/t/acme/"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/t/acme/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.endpoints`)),
		shot("endpoints"),
		chromedp.KeyEvent("\t"),
	)
	if focused := get("focus", chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", focused)
	}

	// The endpoint page: health and the actions.
	do("endpoint page",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/ui/t/acme/endpoints/%s"]`, ep.ID))),
		chromedp.WaitVisible(chromedp.ID("replay-h")),
		shot("endpoint"),
	)

	// Deliveries, failed first: the failed delivery heads the list.
	do("deliveries",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/t/acme/deliveries"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.deliveries`)),
		shot("deliveries"),
	)
	firstRow := chromedp.CSS(`table.deliveries tbody tr:first-child th a`)
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(firstRow, "href"))
	if err != nil {
		t.Fatal(err)
	}
	if href.Value != "/ui/t/acme/deliveries/"+failed.ID {
		t.Fatalf("the first failed delivery listed is %q, want %s", href.Value, failed.ID)
	}

	// Redeliver, and watch the page (refreshing itself without script)
	// show the new attempt succeed.
	do("open the delivery",
		chromedp.Click(firstRow),
		chromedp.WaitVisible(chromedp.ID("redeliver")),
	)
	a1 := get("attempt 1", chromedp.Text(chromedp.CSS(`#attempt-1 .outcome`)))
	do("redeliver",
		chromedp.Click(chromedp.ID("redeliver")),
		chromedp.WaitVisible(chromedp.CSS(`#attempt-2 .outcome.good`)),
		chromedp.WaitVisible(chromedp.CSS(`#delivery-status.succeeded`)),
		shot("delivery"),
	)
	a2 := get("attempt 2", chromedp.Text(chromedp.CSS(`#attempt-2 .outcome`)))
	if a1 != "HTTP 500" || a2 != "Delivered (200)" {
		t.Fatalf("attempts read %q then %q, want HTTP 500 then Delivered (200)", a1, a2)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("the receiver got %d requests, want 2", n)
	}

	// A portal link for acme opens acme's deliveries and nothing of globex.
	link, _ := e.ui.PortalLink("acme", 5*time.Minute, base)
	do("portal", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`table.deliveries`)))
	if who := strings.Join(strings.Fields(get("who", chromedp.Text(chromedp.CSS(`.who`)))), " "); !strings.HasPrefix(who, "Portal for acme") {
		t.Errorf("portal session reads %q", who)
	}
	do("portal list", chromedp.Navigate(base+"/ui/t/acme/deliveries?status=all"), chromedp.WaitVisible(chromedp.CSS(`table.deliveries`)))
	body := get("portal list", chromedp.Text(chromedp.CSS(`main`)))
	if !strings.Contains(body, failed.ID[len(failed.ID)-10:]) || strings.Contains(body, secret.ID[len(secret.ID)-10:]) || strings.Contains(body, "globex") {
		t.Errorf("the portal's delivery list is wrong:\n%s", body)
	}
	for _, path := range []string{"/ui/t/globex/deliveries/" + secret.ID, "/ui/t/acme/deliveries/" + secret.ID, "/ui/t/globex/endpoints"} {
		res, err := chromedp.RunResponse(bctx, chromedp.Navigate(base+path))
		if err != nil {
			t.Fatal(err)
		}
		h1 := get("h1", chromedp.Text(chromedp.CSS(`main h1`)))
		if res.Status != http.StatusNotFound || h1 != "Not Found" {
			t.Errorf("the portal sees %s: %d %q, want 404 Not Found", path, res.Status, h1)
		}
	}

	for name, b := range shots {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if sz := img.Bounds().Size(); sz.X != 1280 || sz.Y != 800 {
			t.Errorf("screenshot %s is %v, want 1280×800", name, sz)
		}
	}
	if *screenshots {
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range shots {
			if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
