package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// BenchmarkPublishCodec measures what the API itself adds to a publish:
// reading and decoding the body, validating it, and encoding the answer.
func BenchmarkPublishCodec(b *testing.B) {
	body := []byte(`{"id": "ord_1001", "type": "order.created", "data": {"amount": 4200, "currency": "EUR", "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}], "customer": {"id": "cus_42", "email": "a@example.com"}}}`)
	ev := &hookd.Event{ID: "ord_1001", Tenant: "acme", Seq: 7, Type: "order.created", OccurredAt: time.Now(), CreatedAt: time.Now()}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	r := httptest.NewRequest("POST", "/v1/tenants/acme/events", nil)
	rd := bytes.NewReader(body)
	r.Body = io.NopCloser(rd)
	r.ContentLength = int64(len(body))
	for b.Loop() {
		rd.Reset(body)
		c := &call{w: discard{}, r: r}
		var in [1]hookd.EventInput
		if err := c.decode(&in[0], DefaultMaxBody); err != nil {
			b.Fatal(err)
		}
		if err := in[0].Validate(""); err != nil {
			b.Fatal(err)
		}
		ev.Data = in[0].Data
		out := [1]publishedEvent{{Event: ev, DeliveryCount: 2}}
		if err := c.respondPublished(http.StatusAccepted, out[:], false); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (discard) WriteHeader(int)             {}
