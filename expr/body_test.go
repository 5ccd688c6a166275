package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The body shapes of the four behaviours hookd reproduces (see examples/).
const (
	// 1: the event id nested where receivers dedupe on it.
	bodyEventPayload = `{"event_payload": {"event": {"id": event.id, "type": event.type, "created_at": event.occurred_at, "data": event.data}}}`
	// 2: a numeric id, an object tag and a version.
	bodyNumericID = `{"id": event.seq, "object": "event", "date_created": event.occurred_at, "event_type": event.type, "payload": event.data, "version": "1"}`
	// 3: one record per attempt.
	bodyPerAttempt = `{"id": attempt.id, "kind": event.type, "date": event.occurred_at, "data": event.data, "deliveryAttempt": attempt.number, "timestampSent": int(attempt.timestamp), "retryOf": attempt.retry_of}`
	// 3, with retryOf left out of first attempts instead of empty.
	bodyPerAttemptOptional = `{"id": attempt.id, "kind": event.type, "date": event.occurred_at, "data": event.data, "deliveryAttempt": attempt.number, "timestampSent": int(attempt.timestamp), ?"retryOf": attempt.?retry_of}`
)

const shapeData = `{ "amount": 150,
  "currency": "usd", "big": 12345678901234567890 }`

func vars(attempt int) BodyVars {
	v := BodyVars{
		Event:      event("order.created", shapeData),
		EndpointID: "ep_1",
		Attempt: AttemptVars{
			ID: fmt.Sprintf("att_%d", attempt), Number: attempt,
			Timestamp: time.Date(2024, 1, 2, 3, 5, 0, 0, time.UTC).Add(time.Duration(attempt-1) * time.Minute),
		},
	}
	if attempt > 1 {
		v.Attempt.RetryOf = fmt.Sprintf("att_%d", attempt-1)
	}
	return v
}

func render(t testing.TB, src string, v BodyVars) string {
	t.Helper()
	b, err := CompileBody(src)
	if err != nil {
		t.Fatalf("CompileBody(%q): %v", src, err)
	}
	out, err := b.Render(v)
	if err != nil {
		t.Fatalf("Render(%q): %v", src, err)
	}
	if !json.Valid(out) {
		t.Fatalf("Render(%q) is not JSON: %s", src, out)
	}
	return string(out)
}

func TestBodyShapes(t *testing.T) {
	// event.data is copied as published, compacted: key order and the
	// integer beyond 2^64 survive.
	const data = `{"amount":150,"currency":"usd","big":12345678901234567890}`
	tests := []struct {
		name, src string
		attempt   int
		want      string
	}{
		{"event payload", bodyEventPayload, 1,
			`{"event_payload":{"event":{"created_at":"2024-01-02T03:04:05Z","data":` + data + `,"id":"evt_1","type":"order.created"}}}`},
		{"numeric id", bodyNumericID, 1,
			`{"id":42,"object":"event","date_created":"2024-01-02T03:04:05Z","event_type":"order.created","payload":` + data + `,"version":"1"}`},
		{"per attempt, first", bodyPerAttempt, 1,
			`{"id":"att_1","kind":"order.created","date":"2024-01-02T03:04:05Z","data":` + data + `,"deliveryAttempt":1,"timestampSent":1704164700,"retryOf":""}`},
		{"per attempt, retry", bodyPerAttempt, 3,
			`{"id":"att_3","kind":"order.created","date":"2024-01-02T03:04:05Z","data":` + data + `,"deliveryAttempt":3,"timestampSent":1704164820,"retryOf":"att_2"}`},
		{"per attempt optional, first", bodyPerAttemptOptional, 1,
			`{"id":"att_1","kind":"order.created","date":"2024-01-02T03:04:05Z","data":` + data + `,"deliveryAttempt":1,"timestampSent":1704164700}`},
		{"per attempt optional, retry", bodyPerAttemptOptional, 2,
			`{"id":"att_2","kind":"order.created","date":"2024-01-02T03:04:05Z","data":` + data + `,"deliveryAttempt":2,"timestampSent":1704164760,"retryOf":"att_1"}`},
		{"default, written out", DefaultBodySource, 1,
			`{"id":"evt_1","type":"order.created","timestamp":"2024-01-02T03:04:05Z","data":` + data + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.src, vars(tt.attempt)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestBodyDefault(t *testing.T) {
	b, err := CompileBody("")
	if err != nil || b != nil {
		t.Fatalf(`CompileBody("") = %v, %v; want nil, nil`, b, err)
	}
	for _, data := range []string{shapeData, `null`, ``, `[1, 2]`, `"s"`, orderData} {
		v := vars(1)
		v.Event.Data = []byte(data)
		got, err := b.Render(v)
		if err != nil {
			t.Fatalf("data %q: %v", data, err)
		}
		// The fast path and the expression it stands for agree byte for byte.
		if want := render(t, DefaultBodySource, v); string(got) != want {
			t.Errorf("data %q: default body\n%s\nexpression gives\n%s", data, got, want)
		}
	}
	v := vars(1)
	v.Event.Data = []byte(`{"a": `)
	if _, err := b.Render(v); err == nil {
		t.Error("default body rendered damaged data")
	}
}

func TestBodyRendering(t *testing.T) {
	tests := []struct{ src, want string }{
		// Integer-valued doubles print as integers, the way JSON readers expect.
		{`1.0`, `1`},
		{`[2.5, -0.0, 1e21, 1e-7, 123456789.0, 0.1]`, `[2.5,-0,1e+21,1e-7,123456789,0.1]`},
		{`[1, 2u, -3, true, null, "s"]`, `[1,2,-3,true,null,"s"]`},
		{`b"hi"`, `"aGk="`},
		{`duration("90m")`, `"1h30m0s"`},
		{`timestamp("2024-01-02T03:04:05.120Z")`, `"2024-01-02T03:04:05.12Z"`},
		{`"quote\" back\\ nl\n tab\t bell\a <&> \u2028 é"`, `"quote\" back\\ nl\n tab\t bell\u0007 <&> \u2028 é"`},
		// The top-level literal keeps its order; nested maps are sorted.
		{`{"b": 1, "a": {"d": 1, "c": 2}, "_": []}`, `{"b":1,"a":{"c":2,"d":1},"_":[]}`},
		{`{1: "int", true: "bool", 2u: "uint"}`, `{"1":"int","true":"bool","2":"uint"}`},
		{`{?"a": optional.none(), "b": optional.of(1), "c": optional.none()}`, `{"b":1,"c":null}`},
		{`event.seq`, `42`},
		{`tenant`, `"acme"`},
		{`endpoint`, `{"id":"ep_1"}`},
		{`event`, `{"id":"evt_1","seq":42,"type":"order.created","occurred_at":"2024-01-02T03:04:05Z","data":{"amount":150,"currency":"usd","big":12345678901234567890}}`},
		{`attempt`, `{"id":"att_2","number":2,"timestamp":"2024-01-02T03:06:00Z","retry_of":"att_1"}`},
		{`{"ts": attempt.timestamp, "unix": int(attempt.timestamp), "ms": attempt.timestamp - event.occurred_at}`, `{"ts":"2024-01-02T03:06:00Z","unix":1704164760,"ms":"1m55s"}`},
		// Parts of data are re-encoded; only whole objects and arrays are copied.
		{`[event.data.amount, event.data.big, event.data.currency]`, `[150,12345678901234567000,"usd"]`},
		{`{"n": event.data.amount / 7, "d": double(event.data.amount) / 4.0}`, `{"n":21,"d":37.5}`},
		{`event.data.size()`, `3`},
		{`event.data.map(k, k)`, `["amount","currency","big"]`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := render(t, tt.src, vars(2)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBodyRenderErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`1.0 / 0.0`, "no JSON form"},
		{`[0.0 / 0.0]`, "no JSON form"},
		{`{1: "a", "1": "b"}`, "appears twice"},
		{`event.data.nope`, "no such key"},
		{`[1, 2][5]`, "out of"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			b, err := CompileBody(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := b.Render(vars(1))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render = %s, %v; want an error containing %q", out, err, tt.want)
			}
		})
	}
	if _, err := (*Body)(nil).Render(BodyVars{}); err == nil {
		t.Error("rendered without an event")
	}
}

func TestBodyCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{"id": event.nope}`, "undefined field 'nope'"},
		{`{"id": attempt.count}`, "undefined field 'count'"},
		{`{"id": event.id,}`, ""}, // a trailing comma is fine
		{`{"id": event.id`, "Syntax error"},
		{`type(event)`, "must evaluate to a JSON value"},
		{`{"a": undefined}`, "undeclared reference to 'undefined'"},
		{`hookd.Attempt{id: "x"}`, "cannot be constructed"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := CompileBody(tt.src)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkInvalid(t, err, "body", tt.want)
		})
	}
}

func TestBodyTenant(t *testing.T) {
	v := vars(1)
	if got := render(t, `tenant`, v); got != `"acme"` {
		t.Errorf("tenant defaults to the event's: got %s", got)
	}
	v.Tenant = "other"
	if got := render(t, `tenant`, v); got != `"other"` {
		t.Errorf("tenant = %s, want \"other\"", got)
	}
}

// A body is rendered for every attempt by many goroutines at once.
func TestBodyConcurrent(t *testing.T) {
	b, err := CompileBody(bodyPerAttempt)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := g*1000 + i + 1
				v := vars(n)
				v.Event.Data = []byte(fmt.Sprintf(`{"n":%d}`, n))
				out, err := b.Render(v)
				if err != nil {
					t.Error(err)
					return
				}
				var got struct {
					ID   string
					Data struct{ N int }
					N    int `json:"deliveryAttempt"`
				}
				if err := json.Unmarshal(out, &got); err != nil || got.ID != v.Attempt.ID || got.Data.N != n || got.N != n {
					t.Errorf("attempt %d rendered %s (%v)", n, out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBodyCompileCached(t *testing.T) {
	a, err := CompileBody(bodyNumericID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := CompileBody(bodyNumericID)
	if a != b || a.Source() != bodyNumericID {
		t.Error("the same body compiled twice")
	}
	var e *hookd.Error
	if _, err := CompileBody(strings.Repeat(" ", MaxSourceLength+1)); !errors.As(err, &e) {
		t.Errorf("an over-long body: %v", err)
	}
}
