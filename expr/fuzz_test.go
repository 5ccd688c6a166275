package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/hookd/hookd"
)

var fuzzFilters = []string{
	`event.type.startsWith("order.") && event.data.amount > 100`,
	`has(event.data.a) && event.data.a.b[0] == "x"`,
	`event.data.items.exists(i, i.price > 10.5)`,
	`event.data.?x.orValue(1) in [1, 2u, 3.0]`,
	`"%s".format([event.data]) != ""`,
	`event.data.s.replace("a", "bb").split(",").size() > 1`,
	`optional.of(event.data).optMap(d, d).hasValue()`,
	`event.occurred_at + duration("1h") > timestamp("2024-01-01T00:00:00Z")`,
	`math.greatest([1, 2.5]) == 2.5`,
	`base64.decode(event.data.b) == b"x"`,
}

const fuzzData = `{"a": {"b": ["x", 1, null]}, "amount": 150.5, "items": [{"price": 11}], "s": "a,a", "b": "eA=="}`

// FuzzCompileFilter: compiling any text either succeeds or is an EINVALID
// naming the filter, and a compiled filter evaluates without panicking.
func FuzzCompileFilter(f *testing.F) {
	for _, s := range fuzzFilters {
		f.Add(s, fuzzData)
	}
	f.Add(`event.data[0]`, `[true]`)
	f.Add(`{"a": 1}`, `{}`)
	f.Fuzz(func(t *testing.T, src, data string) {
		flt, err := CompileFilter(src)
		if err != nil {
			var e *hookd.Error
			if !errors.As(err, &e) || e.Code != hookd.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "filter" {
				t.Fatalf("CompileFilter(%q) = %v, want EINVALID on filter", src, err)
			}
			return
		}
		ok, err := flt.Match(event("order.created", data))
		if err != nil && ok {
			t.Fatalf("Match(%q) = true with error %v", src, err)
		}
	})
}

// FuzzRender: a compiled body renders to valid JSON or to an error, never
// to a panic or to broken output.
func FuzzRender(f *testing.F) {
	for _, s := range []string{bodyEventPayload, bodyNumericID, bodyPerAttempt, bodyPerAttemptOptional, DefaultBodySource, ""} {
		f.Add(s, fuzzData, "evt_1")
	}
	f.Add(`[1.0, 1e300 * 1e300, "\u2028", b"\xff", {1: 2}, event]`, `[]`, "\x00\"\\")
	f.Add(`event.data.map(k, k)`, `{"a\u0000": 1, "\ud800": 2}`, "")
	f.Add(`{"x": event.data}`, "{\"a\":\"\xff\"}", "")
	f.Fuzz(func(t *testing.T, src, data, id string) {
		b, err := CompileBody(src)
		if err != nil {
			return
		}
		ev := event("order.created", data)
		ev.ID = id
		out, err := b.Render(BodyVars{Event: ev, Attempt: AttemptVars{ID: "att_1", Number: 1}})
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Render(%q) over %q = %q: not JSON", src, data, out)
		}
		if b == nil {
			// The default body carries the id exactly, once decoded.
			var got struct{ ID string }
			if err := json.Unmarshal(out, &got); err != nil || (utf8.ValidString(id) && got.ID != id) {
				t.Fatalf("default body id = %q, want %q (%v)", got.ID, id, err)
			}
		}
	})
}

// FuzzDecodeData holds the JSON readers to encoding/json: on valid input
// the eager parser and the lazy values agree with it; on invalid input the
// eager parser fails and the lazy values fail or stay silent, never panic.
func FuzzDecodeData(f *testing.F) {
	for _, s := range []string{fuzzData, orderData, `[1, -0, 1e400, 12345678901234567890, 0.5e-3]`, `"\ud83d\ude00 \ud800 \u00e9 \xff"`,
		`{"a":1,"a":{"b":2}}`, ` null `, `{"a\\u0062": [], "": {}}`, `[{"x":[[]]}]`, `{"a": 01}`, `[1,]`, `{"a" 1}`, `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		eager, eagerErr := parseJSON(data)
		lazy, lazyErr := decodeData(data)
		var lazyNative any
		if lazyErr == nil {
			lazyNative, lazyErr = walk(lazy, 0)
		}
		var std any
		stdErr := errors.New("invalid JSON")
		if json.Valid(data) {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			stdErr = dec.Decode(&std)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return // null to us, an error to encoding/json
		}
		if stdErr != nil {
			if eagerErr == nil {
				t.Fatalf("parseJSON accepted %q, which encoding/json refuses: %v", data, stdErr)
			}
			return
		}
		if eagerErr != nil {
			if errors.Is(eagerErr, errDataDepth) {
				return
			}
			t.Fatalf("parseJSON(%q): %v", data, eagerErr)
		}
		want := numbers(std)
		if !reflect.DeepEqual(eager, want) {
			t.Fatalf("parseJSON(%q) = %#v, encoding/json %#v", data, eager, want)
		}
		if lazyErr != nil {
			t.Fatalf("lazy decode of %q: %v", data, lazyErr)
		}
		if !reflect.DeepEqual(lazyNative, want) {
			t.Fatalf("lazy decode of %q = %#v, encoding/json %#v", data, lazyNative, want)
		}
	})
}

// numbers turns encoding/json's json.Number into our int64 or float64.
func numbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(t), ".eE") {
			if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
				return i
			}
		}
		f, _ := strconv.ParseFloat(string(t), 64)
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbers(e)
		}
	}
	return v
}

// walk reads a CEL value through the interfaces the interpreter uses.
func walk(v ref.Val, depth int) (any, error) {
	if depth > MaxDataDepth+1 {
		return nil, errDataDepth
	}
	switch t := v.(type) {
	case *types.Err:
		return nil, t
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(t), nil
	case types.Int:
		return int64(t), nil
	case types.Double:
		return float64(t), nil
	case types.String:
		return string(t), nil
	case traits.Mapper:
		m := map[string]any{}
		for it := t.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			e, err := walk(t.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			m[string(k.(types.String))] = e
		}
		if n := t.Size(); n != types.Int(len(m)) {
			return nil, errors.New("map size disagrees with its keys")
		}
		return m, nil
	case traits.Lister:
		l := []any{}
		for it := t.Iterator(); it.HasNext() == types.True; {
			e, err := walk(it.Next(), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, e)
		}
		return l, nil
	}
	return nil, errors.New("unexpected " + v.Type().TypeName())
}

// FuzzRenderDefaultData: the default body carries any valid event data
// exactly as encoding/json.Compact would, and refuses what is not JSON.
func FuzzRenderDefaultData(f *testing.F) {
	for _, s := range []string{fuzzData, ` [ 1 , "a b" ] `, `"\u00e9 \n"`, `{"a":1,"a":2}`, "\"\xff\"", `{`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(bytes.TrimSpace(data)) == 0 {
			return // rendered as null
		}
		var none *Body
		out, err := none.Render(BodyVars{Event: &hookd.Event{ID: "evt_1", Type: "t", Data: data}})
		var want bytes.Buffer
		if json.Compact(&want, data) != nil {
			if err == nil {
				t.Fatalf("data %q is not JSON, rendered %q", data, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("data %q: %v", data, err)
		}
		if !bytes.HasSuffix(out, append(append([]byte(`"data":`), want.Bytes()...), '}')) {
			t.Fatalf("data %q rendered %q, want data %q", data, out, want.Bytes())
		}
	})
}
