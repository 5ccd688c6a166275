package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestStatusOfEveryCode(t *testing.T) {
	want := map[string]int{
		hookd.EINVALID: 422, hookd.EMALFORMED: 400, hookd.ENOTFOUND: 404, hookd.ECONFLICT: 409,
		hookd.EUNAUTHORIZED: 401, hookd.EFORBIDDEN: 403, hookd.ETOOLARGE: 413, hookd.EUNAVAILABLE: 503,
		hookd.EUNSUPPORTED: 415, hookd.EMETHOD: 405, hookd.ERATELIMITED: 429, hookd.EINTERNAL: 500,
		hookd.EDUPLICATE: 409, "something new": 500,
	}
	for code, st := range want {
		if got := status(code); got != st {
			t.Errorf("status(%q) = %d, want %d", code, got, st)
		}
	}
}

func TestProblemHidesCauses(t *testing.T) {
	p := problemFor(fmt.Errorf("wrapped: %w", errors.New("password=hunter2")))
	if p.Status != 500 || strings.Contains(p.Detail, "hunter2") || p.Type != ProblemTypePrefix+hookd.EINTERNAL {
		t.Errorf("internal error leaks or maps wrongly: %+v", p)
	}
	p = problemFor(&hookd.Error{Code: hookd.EINTERNAL, Message: "db path /var/secret", Fields: []hookd.FieldError{{Field: "x"}}})
	if strings.Contains(p.Detail, "secret") || p.Errors != nil {
		t.Errorf("EINTERNAL message shown: %+v", p)
	}
	p = problemFor(fmt.Errorf("ctx: %w", hookd.Invalid("url", "is required")))
	if p.Status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "url" || p.Title != "Unprocessable Entity" {
		t.Errorf("wrapped EINVALID: %+v", p)
	}
}

func TestDecodeNamesFields(t *testing.T) {
	type batch struct {
		Events []hookd.EventInput `json:"events"`
	}
	cases := []struct {
		body  string
		v     any
		code  string
		field string
	}{
		{`{"url": 5}`, new(endpointBody), hookd.EINVALID, "url"},
		{`{"url": "x", "retry": {"backoff": {"initial": "1s", "multiplier": "2"}}}`, new(endpointBody), hookd.EINVALID, "retry.backoff.multiplier"},
		{`{"url": "x", "retry": {"shedule": []}}`, new(endpointBody), hookd.EINVALID, "retry.shedule"},
		{`{"url": "x", "headers": {"X-A": 1}}`, new(endpointBody), hookd.EINVALID, "headers.X-A"},
		{`{"url": "x", "max_in_flight": 1.5}`, new(endpointBody), hookd.EINVALID, "max_in_flight"},
		{`{"url": "x", "max_in_flight": 1e400}`, new(endpointBody), hookd.EINVALID, "max_in_flight"},
		{`{"url": "x", "enabled": "yes"}`, new(endpointBody), hookd.EINVALID, "enabled"},
		{`{"URL": "x"}`, new(endpointBody), hookd.EINVALID, "URL"},
		{`{"events": [{"type": "a", "data": 1}, {"type": 7}]}`, new(batch), hookd.EINVALID, "events[1].type"},
		{`{"events": [{"type": "a", "data": 1, "occurred_at": "yesterday"}]}`, new(batch), hookd.EINVALID, "events[0].occurred_at"},
		{`{"events": [{"type": "a", "typ": 1}]}`, new(batch), hookd.EINVALID, "events[0].typ"},
		{`{"events": {}}`, new(batch), hookd.EINVALID, "events"},
		{`{"type": "a", "type": "b"}`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{`{"type": "a",}`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{`{"type": "a"} {}`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{`{"type": "a`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{`[1, 2]`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{`"str"`, new(hookd.EventInput), hookd.EMALFORMED, ""},
		{"{\"type\": \"\xff\"}", new(hookd.EventInput), hookd.EMALFORMED, ""},
	}
	for _, tc := range cases {
		err := decodeError(unmarshalStrict([]byte(tc.body), tc.v))
		var e *hookd.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v is not a *hookd.Error", tc.body, err)
			continue
		}
		if e.Code != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.body, e.Code, e, tc.code)
		}
		if tc.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.field) {
			t.Errorf("%s: fields %+v, want %q", tc.body, e.Fields, tc.field)
		}
	}
}

func TestDecodeKeepsData(t *testing.T) {
	var in hookd.EventInput
	if err := unmarshalStrict([]byte(`{"type":"a.b","data":{"n":[1,2.50,null]},"occurred_at":"2024-05-01T12:00:00+02:00"}`), &in); err != nil {
		t.Fatal(err)
	}
	if string(in.Data) != `{"n":[1,2.50,null]}` || in.OccurredAt == nil || !in.OccurredAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("decoded %+v (data %s)", in, in.Data)
	}
	in = hookd.EventInput{}
	if err := unmarshalStrict([]byte(`{"type":"a","data":null}`), &in); err != nil || string(in.Data) != "null" {
		t.Errorf("data null: %v, %q", err, in.Data)
	}
}

func TestParseQuery(t *testing.T) {
	cases := []struct {
		raw    string
		params []param
		fields []string // invalid fields, sorted; nil: valid
		check  func(query) bool
	}{
		{"", deliveryParams, nil, func(q query) bool { return q.Limit == hookd.DefaultLimit }},
		{"limit=1000&cursor=abc", listParams, nil, func(q query) bool { return q.Limit == 1000 && q.Cursor == "abc" }},
		{"limit=0", listParams, []string{"limit"}, nil},
		{"limit=1001", listParams, []string{"limit"}, nil},
		{"limit=ten", listParams, []string{"limit"}, nil},
		{"limit=1&limit=2", listParams, []string{"limit"}, nil},
		{"status=failed&event_type=order.paid&endpoint_id=ep_1&event_id=e", deliveryParams, nil, func(q query) bool {
			return q.Status == hookd.StateFailed && q.EventType == "order.paid" && q.EndpointID == "ep_1" && q.EventID == "e"
		}},
		{"status=lost", deliveryParams, []string{"status"}, nil},
		{"since=2024-05-01T00:00:00%2B02:00&until=2024-05-02T00:00:00Z", eventListParams, nil, func(q query) bool {
			return q.Since.Equal(time.Date(2024, 4, 30, 22, 0, 0, 0, time.UTC)) && q.Until.Location() == time.UTC
		}},
		{"since=yesterday&until=2024", eventListParams, []string{"since", "until"}, nil},
		{"since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z", eventListParams, []string{"until"}, nil},
		{"failed=true", attemptParams, nil, func(q query) bool { return q.Failed != nil && *q.Failed }},
		{"failed=false", attemptParams, nil, func(q query) bool { return q.Failed != nil && !*q.Failed }},
		{"failed=maybe", attemptParams, []string{"failed"}, nil},
		{"stauts=failed&limit=-1", deliveryParams, []string{"limit", "stauts"}, nil},
		{"status=failed", listParams, []string{"status"}, nil},
		{"type=bad%20type", eventListParams, []string{"type"}, nil},
		{"cursor=" + strings.Repeat("a", 2000), listParams, []string{"cursor"}, nil},
	}
	for _, tc := range cases {
		q, err := parseQuery(tc.raw, tc.params)
		if tc.fields == nil {
			if err != nil {
				t.Errorf("%q: %v", tc.raw, err)
			} else if !tc.check(q) {
				t.Errorf("%q: parsed %+v", tc.raw, q)
			}
			continue
		}
		var e *hookd.Error
		if !errors.As(err, &e) || e.Code != hookd.EINVALID {
			t.Errorf("%q: %v, want EINVALID", tc.raw, err)
			continue
		}
		var got []string
		for _, f := range e.Fields {
			got = append(got, f.Field)
		}
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%q: fields %v, want %v", tc.raw, got, tc.fields)
		}
	}
	if _, err := parseQuery("a=%zz", listParams); hookd.ErrorCode(err) != hookd.EMALFORMED {
		t.Errorf("bad escape: %v", err)
	}
}

func TestMergePatch(t *testing.T) {
	base := `{"url":"https://a.example","description":"d","headers":{"X-A":"1","X-B":"2"},"retry":{"schedule":["1m"]},"signature":{"scheme":"stripe","header":"X-Sig"},"max_in_flight":4}`
	patch := `{"description":null,"headers":{"X-A":null,"X-C":"3"},"retry":{"backoff":{"initial":"1s","multiplier":2,"max_age":"1h"}},"signature":{"header":"X-Other"},"max_in_flight":12345678901234567890}`
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatal(err)
	}
	pv := map[string][]byte{}
	for k, v := range p {
		pv[k] = v
	}
	out, err := mergePatch([]byte(base), toValues(pv))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url":           "https://a.example",
		"headers":       map[string]any{"X-B": "2", "X-C": "3"},
		"retry":         map[string]any{"backoff": map[string]any{"initial": "1s", "multiplier": json.Number("2"), "max_age": "1h"}},
		"signature":     map[string]any{"scheme": "stripe", "header": "X-Other"},
		"max_in_flight": json.Number("12345678901234567890"), // kept exactly, for validation to refuse
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged\n%s\nwant\n%v", out, want)
	}
}

func TestFieldPath(t *testing.T) {
	for ptr, want := range map[string]string{
		"":                    "",
		"/url":                "url",
		"/events/3/type":      "events[3].type",
		"/retry/schedule/0":   "retry.schedule[0]",
		"/headers/a~1b~0c":    "headers.a/b~c",
		"/retry/backoff/max_": "retry.backoff.max_",
	} {
		if got := fieldPath(pointer(ptr)); got != want {
			t.Errorf("fieldPath(%q) = %q, want %q", ptr, got, want)
		}
	}
}

// TestOpenAPIMatchesRoutes checks the document against the table the mux
// is built from, both ways, and that every reference resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := json.Marshal(openAPI(routes))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+path] = true
		}
	}
	inTable := map[string]bool{}
	for _, rt := range routes {
		if inTable[rt.pattern()] {
			t.Errorf("route %s twice", rt.pattern())
		}
		inTable[rt.pattern()] = true
		if !inDoc[rt.pattern()] {
			t.Errorf("route %s is not in the document", rt.pattern())
		}
	}
	for p := range inDoc {
		if !inTable[p] {
			t.Errorf("the document has %s, which no route serves", p)
		}
	}
	for _, ref := range refRe.FindAllStringSubmatch(string(b), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok && !strings.HasPrefix(ref[0], `"#/components/responses/`) {
			t.Errorf("dangling $ref %s", ref[0])
		}
	}
	for name, s := range doc.Components.Schemas {
		if string(s) == "null" {
			t.Errorf("schema %s was never filled", name)
		}
	}
	for _, name := range []string{"Endpoint", "EndpointBody", "EndpointList", "Event", "EventInput", "Delivery", "Attempt", "Problem", "APIKey", "ApiKeyBody", "PublishedEvent", "SecretView"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("no schema %s; have %v", name, slices.Sorted(mapsKeys(doc.Components.Schemas)))
		}
	}
	var ep struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["Endpoint"], &ep)
	if _, ok := ep.Properties["secret"]; ok {
		t.Error("the Endpoint schema shows a secret")
	}
	if _, ok := ep.Properties["url"]; !ok || !slices.Contains(ep.Required, "id") {
		t.Errorf("Endpoint schema: %+v", ep)
	}
	var pub struct {
		Properties map[string]any `json:"properties"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["PublishedEvent"], &pub)
	for _, f := range []string{"id", "type", "data", "delivery_count", "duplicate"} {
		if _, ok := pub.Properties[f]; !ok {
			t.Errorf("PublishedEvent lacks %s (embedded fields must flatten)", f)
		}
	}
}

// TestPatchDocumentsTheBody keeps endpointPatch, which documents PATCH,
// in step with endpointBody, which PATCH decodes.
func TestPatchDocumentsTheBody(t *testing.T) {
	names := func(t reflect.Type) (out []string) {
		for i := range t.NumField() {
			n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if n != "secret" {
				out = append(out, n+" "+t.Field(i).Type.String())
			}
		}
		return out
	}
	b, p := names(reflect.TypeFor[endpointBody]()), names(reflect.TypeFor[endpointPatch]())
	if !slices.Equal(b, p) {
		t.Errorf("endpointBody %v\nendpointPatch %v", b, p)
	}
}

func TestStatusTextOfRoutes(t *testing.T) {
	for _, rt := range routes {
		if http.StatusText(rt.status) == "" || rt.serve == nil || rt.id == "" || rt.summary == "" {
			t.Errorf("route %s is incomplete", rt.pattern())
		}
		if rt.body != nil && rt.method == "GET" {
			t.Errorf("GET %s takes a body", rt.path)
		}
	}
}

// TestAppendPublishedMatchesEncodingJSON holds the hand-written encoder of
// the publish answer to what encoding/json writes for the same value, so
// a field added to hookd.Event cannot go missing from it.
func TestAppendPublishedMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC)
	for _, p := range []publishedEvent{
		{Event: &hookd.Event{ID: "ord_1", Tenant: "acme", Seq: 42, Type: "order.created", Data: json.RawMessage(`{"a": [1, 2.5e3, "x\u00e9"], "<b>": null}`), OccurredAt: at, CreatedAt: at.Add(time.Second)}, DeliveryCount: 3},
		{Event: &hookd.Event{ID: `we"ird\id`, Tenant: "t", Type: "a"}, Duplicate: true},
		{Event: &hookd.Event{ID: "x", Tenant: "t", Type: "a", Data: json.RawMessage(`"\u2028 <&>"`), OccurredAt: at.In(time.FixedZone("x", 3600))}},
	} {
		hand := appendPublished(nil, &p)
		std, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(hand, &a); err != nil {
			t.Fatalf("hand-written %s: %v", hand, err)
		}
		if err := json.Unmarshal(std, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("hand-written\n%s\nencoding/json\n%s", hand, std)
		}
	}
}
