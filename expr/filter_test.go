package expr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// orderData is a realistic event payload, used by tests and benchmarks.
const orderData = `{"id":"ord_8Hk2LmQ9","object":"order","amount":15099,"currency":"usd","status":"paid",
 "customer":{"id":"cus_12345","email":"Jane@Example.com","name":"Jane Doe",
   "address":{"line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}},
 "items":[{"sku":"A-1","name":"Widget","quantity":2,"price":4999},{"sku":"B-2","name":"Gadget","quantity":1,"price":5101}],
 "tags":["vip","web"],"metadata":{"source":"web","campaign":"spring"},"created":1700000000,"livemode":false,
 "tax":{"rate":0.0825,"amount":1245.67}}`

var occurred = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func event(typ, data string) *hookd.Event {
	return &hookd.Event{
		ID: "evt_1", Tenant: "acme", Seq: 42, Type: typ,
		Data: []byte(data), OccurredAt: occurred, CreatedAt: occurred,
	}
}

func mustFilter(t testing.TB, src string) *Filter {
	t.Helper()
	f, err := CompileFilter(src)
	if err != nil {
		t.Fatalf("CompileFilter(%q): %v", src, err)
	}
	return f
}

func TestFilterMatch(t *testing.T) {
	const brief = `event.type.startsWith("order.") && event.data.amount > 100`
	tests := []struct {
		src, typ, data string
		want           bool
		err            string // substring of the error, when one is expected
	}{
		// Event type prefixes.
		{`event.type.startsWith("order.")`, "order.created", `{}`, true, ""},
		{`event.type.startsWith("order.")`, "invoice.paid", `{}`, false, ""},
		// The example of the design: int and double amounts compare alike.
		{brief, "order.created", `{"amount": 150}`, true, ""},
		{brief, "order.created", `{"amount": 150.5}`, true, ""},
		{brief, "order.created", `{"amount": 1.5e2}`, true, ""},
		{brief, "order.created", `{"amount": 100}`, false, ""},
		{brief, "order.created", `{"amount": 100.0}`, false, ""},
		{brief, "order.created", `{"amount": 50}`, false, ""},
		{brief, "invoice.paid", `{"amount": 150}`, false, ""},
		{`event.data.amount > 99.5`, "x", `{"amount": 100}`, true, ""},
		{`event.data.amount == 150`, "x", `{"amount": 150.0}`, true, ""},
		{`event.data.amount < 1u`, "x", `{"amount": 0}`, true, ""},
		{`event.data.amount == 9007199254740993`, "x", `{"amount": 9007199254740993}`, true, ""}, // exact beyond 2^53
		{`event.data.amount * 2 == 300`, "x", `{"amount": 150}`, true, ""},
		{`double(event.data.amount) * 1.5 == 225.0`, "x", `{"amount": 150}`, true, ""},
		{brief, "order.created", `{"amount": "150"}`, false, "no such overload"},
		// A missing key is an error that comes with false…
		{brief, "order.created", `{}`, false, "no such key: amount"},
		{brief, "order.created", `{"total": 150}`, false, "no such key: amount"},
		{`event.data.customer.address.zip == "1"`, "x", orderData, false, "no such key: zip"},
		// …unless guarded.
		{`has(event.data.amount) && event.data.amount > 100`, "x", `{}`, false, ""},
		{`has(event.data.amount) && event.data.amount > 100`, "x", `{"amount": 101}`, true, ""},
		{`event.data.?amount.orValue(0) > 100`, "x", `{}`, false, ""},
		{`!has(event.data.customer.phone)`, "x", orderData, true, ""},
		// Short-circuit absorbs the error, as CEL defines.
		{`event.type == "x" || event.data.nope`, "x", `{}`, true, ""},
		// The other event fields, and tenant.
		{`event.id == "evt_1" && event.seq == 42 && tenant == "acme"`, "x", `{}`, true, ""},
		{`has(event.id) && has(event.data)`, "x", `{"a":1}`, true, ""},
		{`has(event.data)`, "x", `null`, false, ""},
		{`event.data == null`, "x", ` null `, true, ""},
		{`event.occurred_at > timestamp("2024-01-01T00:00:00Z")`, "x", `{}`, true, ""},
		{`event.occurred_at < timestamp("2024-01-01T00:00:00Z")`, "x", `{}`, false, ""},
		{`string(event.occurred_at) == "2024-01-02T03:04:05Z"`, "x", `{}`, true, ""},
		{`int(event.occurred_at) == 1704164645`, "x", `{}`, true, ""},
		{`event.occurred_at.getHours() == 3 && event.occurred_at.getFullYear() == 2024`, "x", `{}`, true, ""},
		{`type(event) == hookd.Event`, "x", `{}`, true, ""},
		// Reaching into data.
		{`event.data.customer.address.country == "US"`, "x", orderData, true, ""},
		{`"vip" in event.data.tags`, "x", orderData, true, ""},
		{`"b2b" in event.data.tags`, "x", orderData, false, ""},
		{`"customer" in event.data && !("phone" in event.data.customer)`, "x", orderData, true, ""},
		{`event.data.items.exists(i, i.sku == "B-2" && i.price > 5000)`, "x", orderData, true, ""},
		{`event.data.items.all(i, i.quantity > 1)`, "x", orderData, false, ""},
		{`size(event.data.items) == 2 && event.data.items[1].name == "Gadget"`, "x", orderData, true, ""},
		{`event.data.items.map(i, i.price * i.quantity).exists(t, t == 9998)`, "x", orderData, true, ""},
		{`event.data.items[2].sku == "x"`, "x", orderData, false, "out of bounds"},
		{`event.data.tax.rate < 0.1 && event.data.livemode == false`, "x", orderData, true, ""},
		{`event.data[0] == 1 && size(event.data) == 3`, "x", `[1, [2], {"a": 3}]`, true, ""},
		{`event.data == "hi"`, "x", `"hi"`, true, ""},
		{`event.data.metadata == {"source": "web", "campaign": "spring"}`, "x", orderData, true, ""},
		{`{"source": "web", "campaign": "spring"} == event.data.metadata`, "x", orderData, true, ""},
		{`event.data.tags == ["vip", "web"] && event.data.tags + ["x"] == ["vip", "web", "x"]`, "x", orderData, true, ""},
		// JSON corner cases: last duplicate wins, escapes are decoded.
		{`event.data.a == 2 && size(event.data) == 1`, "x", `{"a": 1, "a": 2}`, true, ""},
		{`event.data.ab == "é\n" && event.data["x\"y"] == 1`, "x", `{"a\u0062": "\u00e9\n", "x\"y": 1}`, true, ""},
		// Extension libraries.
		{`event.data.customer.email.lowerAscii().endsWith("@example.com")`, "x", orderData, true, ""},
		{`event.data.tags.join(",") == "vip,web"`, "x", orderData, true, ""},
		{`"%s-%d".format([event.data.currency, event.data.amount]) == "usd-15099"`, "x", orderData, true, ""},
		{`base64.encode(bytes(event.id)) == "ZXZ0XzE="`, "x", `{}`, true, ""},
		{`math.greatest(event.data.tax.amount, 1000) == 1245.67`, "x", orderData, true, ""},
		{`event.data.customer.name.matches("^Jane")`, "x", orderData, true, ""},
		// Optional values, with optMap and optFlatMap rewritten not to copy
		// their receiver.
		{`optional.of(event.seq).optMap(x, x + 1).optMap(x, x * 2).value() == 86`, "x", `{}`, true, ""},
		{`!optional.none().optMap(x, x).hasValue()`, "x", `{}`, true, ""},
		{`event.data.?amount.optFlatMap(a, a > 1 ? optional.of(a) : optional.none()).orValue(0) == 2`, "x", `{"amount": 2}`, true, ""},
		{`event.data.?amount.optMap(a, optional.of(a).optMap(b, a + b).value()).value() == 4`, "x", `{"amount": 2}`, true, ""},
		{`event.data.?missing.optMap(a, a + 1).orValue(-1) == -1`, "x", `{}`, true, ""},
		// A dyn filter must produce a bool at run time.
		{`event.data.flag`, "x", `{"flag": true}`, true, ""},
		{`event.data.flag`, "x", `{"flag": "yes"}`, false, "not a bool"},
		// Damaged data is an error, never a panic.
		{`event.data.a == 1`, "x", `{"a": 1`, false, "event data"},
		{`event.data.a == 1`, "x", `{"a": 1} x`, false, "trailing"},
		{`event.data.a == 1`, "x", `{"a": 01}`, false, "bad value"},
	}
	for _, tt := range tests {
		t.Run(tt.src+"/"+tt.data, func(t *testing.T) {
			got, err := mustFilter(t, tt.src).Match(event(tt.typ, tt.data))
			if got != tt.want {
				t.Errorf("Match = %v, want %v (err %v)", got, tt.want, err)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestFilterCompileErrors(t *testing.T) {
	long := "event.id == \"" + strings.Repeat("x", MaxSourceLength) + "\""
	tests := []struct{ src, want string }{
		{`event.tpye == "order.created"`, "undefined field 'tpye'"},
		{`attempt.number == 1`, "undeclared reference to 'attempt'"},
		{`endpoint.id == "x"`, "undeclared reference to 'endpoint'"},
		{`event.type`, "must evaluate to a bool, not string"},
		{`event.seq + 1`, "must evaluate to a bool, not int"},
		{`event.type ==`, "Syntax error"},
		{`event.type.startsWith(1)`, "found no matching overload for 'startsWith'"},
		{`event.data.s.matches("[")`, "invalid"},
		{`event.occurred_at > timestamp("yesterday")`, "timestamp"},
		{`hookd.Event{id: "x"} == event`, "hookd.Event values cannot be constructed"},
		{long, "must be at most 4096 bytes"},
		{`[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))`, "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.src[:min(len(tt.src), 40)], func(t *testing.T) {
			_, err := CompileFilter(tt.src)
			checkInvalid(t, err, "filter", tt.want)
		})
	}
}

// checkInvalid asserts that err is a *hookd.Error EINVALID naming field,
// whose message carries want.
func checkInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	var e *hookd.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *hookd.Error", err, err)
	}
	if e.Code != hookd.EINVALID {
		t.Errorf("code = %q, want %q", e.Code, hookd.EINVALID)
	}
	if len(e.Fields) != 1 || e.Fields[0].Field != field {
		t.Fatalf("fields = %+v, want one naming %q", e.Fields, field)
	}
	if !strings.Contains(e.Fields[0].Message, want) {
		t.Errorf("message = %q, want it to contain %q", e.Fields[0].Message, want)
	}
}

func TestFilterCompileErrorIsCELMessage(t *testing.T) {
	_, err := CompileFilter(`event.tpye == "x"`)
	var e *hookd.Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	// CEL's own rendering: location, message, and a caret under the column.
	want := "ERROR: filter:1:6: undefined field 'tpye'\n | event.tpye == \"x\"\n | .....^"
	if e.Fields[0].Message != want {
		t.Errorf("message =\n%s\nwant\n%s", e.Fields[0].Message, want)
	}
}

// cel.OptionalTypes' own optMap copied its receiver into both branches,
// so a chain of n calls grew to 2^n nodes and hung the type checker.
func TestOptMapChainCompilesFast(t *testing.T) {
	src := `optional.of(1)` + strings.Repeat(`.optMap(x, x + 1)`, 60) + `.value() == 61`
	start := time.Now()
	ok, err := mustFilter(t, src).Match(event("x", `{}`))
	if !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

func TestFilterEmptyMatchesEverything(t *testing.T) {
	f, err := CompileFilter("")
	if err != nil || f != nil {
		t.Fatalf("CompileFilter(\"\") = %v, %v; want nil, nil", f, err)
	}
	ok, err := f.Match(event("anything", `{}`))
	if !ok || err != nil {
		t.Errorf("nil filter Match = %v, %v; want true, nil", ok, err)
	}
	if _, err := mustFilter(t, "true").Match(nil); err == nil {
		t.Error("Match(nil) succeeded")
	}
}

func TestFilterCached(t *testing.T) {
	src := fmt.Sprintf(`event.seq > %d`, time.Now().UnixNano())
	a, b := mustFilter(t, src), mustFilter(t, src)
	if a != b {
		t.Error("the same source compiled twice")
	}
	if a.Source() != src {
		t.Errorf("Source() = %q", a.Source())
	}
}

func TestLRUEvicts(t *testing.T) {
	c := newLRU[int](2)
	c.add("a", 1)
	c.add("b", 2)
	if v, _ := c.get("a"); v != 1 { // a is now the most recent
		t.Fatal("a missing")
	}
	c.add("c", 3) // evicts b
	if _, ok := c.get("b"); ok {
		t.Error("b survived eviction")
	}
	if v := c.add("a", 9); v != 1 {
		t.Errorf("add over an existing key returned %d, want the cached 1", v)
	}
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
}

// Filters are shared by every delivery goroutine; the pooled state must
// never leak one evaluation into another. Run with -race.
func TestFilterConcurrent(t *testing.T) {
	f := mustFilter(t, `event.data.n % 2 == 0 && event.data.items.all(i, i == event.data.n)`)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := g*1000 + i
				ev := event("x", fmt.Sprintf(`{"n": %d, "items": [%d, %d]}`, n, n, n))
				got, err := f.Match(ev)
				if err != nil || got != (n%2 == 0) {
					t.Errorf("n=%d: Match = %v, %v", n, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Endpoints are created concurrently: compiling must be safe too.
func TestCompileConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				src := fmt.Sprintf(`event.seq == %d && event.type.startsWith("g%d")`, i, g)
				f, err := CompileFilter(src)
				if err != nil {
					t.Error(err)
					return
				}
				ev := event(fmt.Sprintf("g%d.x", g), `{}`)
				ev.Seq = int64(i)
				if ok, err := f.Match(ev); !ok || err != nil {
					t.Errorf("%s: %v, %v", src, ok, err)
				}
				if _, err := CompileBody(fmt.Sprintf(`{"n": %d, "e": event.id}`, g*100+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
