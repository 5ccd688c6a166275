package expr

import (
	"errors"

	"fmt"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/traits"
	"strings"
	"testing"
	"time"
)

// hostileData has 3,000 items and a 100 KB string: enough for a quadratic
// loop to run for minutes and for doubling to reach gigabytes.
func hostileData() string {
	items := make([]string, 3000)
	for i := range items {
		items[i] = fmt.Sprintf(`{"n":%d}`, i)
	}
	return `{"items":[` + strings.Join(items, ",") + `],"big":"` + strings.Repeat("x", 100<<10) + `"}`
}

func chain(n int, step string) string { return strings.Repeat(step, n) }

// Each hostile expression must stop with ErrLimit, quickly, whatever the
// machine: the deadline is MaxEvalTime and the other limits trip sooner.
func TestHostileExpressionsStop(t *testing.T) {
	data := hostileData()
	tests := []struct {
		name, filter, body string
	}{
		{"quadratic loop over data", `event.data.items.all(a, event.data.items.all(b, a.n != b.n || a == b))`, ""},
		{"nested loops building lists", `event.data.items.map(a, event.data.items.map(b, [a, b])).size() > 0`, ""},
		{"replace amplification", `"x"` + chain(8, `.replace("x", "xxxxxxxxxx")`) + `.size() > 0`, ""},
		{"string doubling", `optional.of(event.data.big)` + chain(12, `.optMap(s, s + s)`) + `.value().size() > 0`, ""},
		{"list doubling", `optional.of(event.data.items)` + chain(40, `.optMap(l, l + l)`) + `.value().size() > 0`, ""},
		{"bytes doubling", `optional.of(bytes(event.data.big))` + chain(12, `.optMap(s, s + s)`) + `.value().size() > 0`, ""},
		{"join of repeated data", `event.data.items.map(i, event.data.big).join("").size() > 0`, ""},
		{"format of repeated data", `"%s".format([event.data.items.map(i, event.data.big)]).size() > 0`, ""},
		{"quote of a huge string", `strings.quote(optional.of(event.data.big)` + chain(6, `.optMap(s, s + s)`) + `.value()).size() > 0`, ""},
		{"body of repeated data", "", `event.data.items.map(i, event.data.big)`},
		{"body doubling a list", "", `optional.of(event.data.items)` + chain(40, `.optMap(l, l + l)`) + `.value()`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event("x", data)
			// Compile first: the limit under test is the evaluation's.
			var (
				flt  *Filter
				body *Body
				err  error
			)
			if tt.filter != "" {
				flt = mustFilter(t, tt.filter)
			} else if body, err = CompileBody(tt.body); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if flt != nil {
				var ok bool
				if ok, err = flt.Match(ev); ok {
					t.Error("a stopped filter matched")
				}
			} else {
				var out []byte
				if out, err = body.Render(BodyVars{Event: ev}); out != nil {
					t.Error("a stopped body produced output")
				}
			}
			elapsed := time.Since(start)
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("err = %v, want ErrLimit", err)
			}
			if elapsed > time.Second {
				t.Errorf("took %v to stop", elapsed)
			}
			t.Logf("%v after %v", err, elapsed)
		})
	}
}

// An expression too expensive even on tiny data is refused at compile
// time with a 422, not at every delivery.
func TestHostileRejectedAtCompile(t *testing.T) {
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = fmt.Sprint(i)
	}
	list := "[" + strings.Join(hundred, ",") + "]"
	src := list + ".all(a, " + list + ".all(b, " + list + ".all(c, a + b + c >= 0)))"
	_, err := CompileFilter(src)
	checkInvalid(t, err, "filter", "too expensive")
	_, err = CompileBody(list + ".map(a, " + list + ".map(b, " + list + ".map(c, a + b + c)))")
	checkInvalid(t, err, "body", "too expensive")

	// A loop over data is not: its cost depends on the event.
	mustFilter(t, `event.data.items.exists(a, event.data.items.exists(b, a == b))`)
}

func TestIterationLimit(t *testing.T) {
	s := &state{deadline: time.Now().Add(time.Hour), iterations: MaxIterations - 1}
	if s.interrupted() {
		t.Fatal("stopped before the limit")
	}
	if !s.interrupted() || !errors.Is(s.stopped, ErrLimit) || !strings.Contains(s.stopped.Error(), "iterations") {
		t.Fatalf("past the limit: stopped = %v", s.stopped)
	}
	s = &state{deadline: time.Now().Add(-time.Millisecond)}
	for range clockEvery {
		s.interrupted()
	}
	if !errors.Is(s.stopped, ErrLimit) || !strings.Contains(s.stopped.Error(), "longer than") {
		t.Fatalf("past the deadline: stopped = %v", s.stopped)
	}
}

// Data nested deeper than MaxDataDepth is refused where an expression
// reaches that deep, and still delivered whole by the default body.
func TestDataDepth(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDataDepth+5) + "1" + strings.Repeat("}", MaxDataDepth+5)
	ev := event("x", deep)
	ok, err := mustFilter(t, `has(event.data.a.a)`).Match(ev)
	if !ok || err != nil {
		t.Errorf("shallow read: %v, %v", ok, err)
	}
	// An expression cannot spell a path that long (the parser's recursion
	// limit is lower), so walk the value as the interpreter would.
	v, err := decodeData(ev.Data)
	for i := 0; err == nil && i < MaxDataDepth+4; i++ {
		m, ok := v.(traits.Mapper)
		if !ok {
			if e, isErr := v.(*types.Err); isErr {
				err = e
				break
			}
			t.Fatalf("level %d is a %T", i, v)
		}
		v = m.Get(types.String("a"))
	}
	if err == nil || !strings.Contains(err.Error(), "deeper than 64") {
		t.Errorf("deep read: err = %v", err)
	}
	if _, err := CompileFilter("event.data" + strings.Repeat(".a", MaxDataDepth+4) + " == 1"); err == nil {
		t.Error("a path deeper than the parser's limit compiled")
	}
	out, err := (*Body)(nil).Render(BodyVars{Event: ev})
	if err != nil || !strings.Contains(string(out), deep) {
		t.Errorf("default body: %v", err)
	}
	// Equality needs the whole value, which is refused as well.
	if _, err := mustFilter(t, `event.data == {}`).Match(ev); err == nil {
		t.Error("compared data deeper than the limit")
	}
}
