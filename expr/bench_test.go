package expr

import (
	"testing"
	"time"
)

// Filters run once per event and endpoint at fan-out; bodies once per
// attempt. Allocations here are per delivery.

func benchMatch(b *testing.B, src, data string) {
	f := mustFilter(b, src)
	ev := event("order.created", data)
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := f.Match(ev); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkMatchType(b *testing.B) {
	benchMatch(b, `event.type.startsWith("order.")`, orderData)
}

func BenchmarkMatchDataField(b *testing.B) {
	benchMatch(b, `event.type.startsWith("order.") && event.data.amount > 100`, orderData)
}

func BenchmarkMatchDataLoop(b *testing.B) {
	benchMatch(b, `event.data.items.exists(i, i.sku == "B-2" && i.price > 5000)`, orderData)
}

func BenchmarkCompileFilterCached(b *testing.B) {
	src := `event.type.startsWith("order.") && event.data.amount > 100`
	mustFilter(b, src)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileFilter(src); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRender(b *testing.B, src string) {
	var body *Body
	if src != "" {
		var err error
		if body, err = CompileBody(src); err != nil {
			b.Fatal(err)
		}
	}
	v := BodyVars{
		Event:      event("order.created", orderData),
		EndpointID: "ep_1",
		Attempt:    AttemptVars{ID: "att_2", Number: 2, Timestamp: time.Now(), RetryOf: "att_1"},
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := body.Render(v)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkRenderDefault(b *testing.B)      { benchRender(b, "") }
func BenchmarkRenderDefaultCEL(b *testing.B)   { benchRender(b, DefaultBodySource) }
func BenchmarkRenderEventPayload(b *testing.B) { benchRender(b, bodyEventPayload) }
func BenchmarkRenderNumericID(b *testing.B)    { benchRender(b, bodyNumericID) }
func BenchmarkRenderPerAttempt(b *testing.B)   { benchRender(b, bodyPerAttempt) }
