package api

import (
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// appendPublished appends p as JSON, the same document encoding/json
// writes for it (a test holds the two equal, field for field). Publishing
// is the hottest route, and encoding/json would spend most of its answer
// re-validating and compacting the event's data, which was validated when
// it was decoded (or when it was first stored, for a duplicate).
func appendPublished(b []byte, p *publishedEvent) []byte {
	e := p.Event
	b = append(b, `{"id":`...)
	b, _ = jsontext.AppendQuote(b, e.ID) // invalid UTF-8 becomes U+FFFD, as encoding/json does
	b = append(b, `,"tenant":`...)
	b, _ = jsontext.AppendQuote(b, e.Tenant)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"type":`...)
	b, _ = jsontext.AppendQuote(b, e.Type)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	b = append(b, `,"occurred_at":`...)
	b = appendTime(b, e.OccurredAt)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, e.CreatedAt)
	b = append(b, `,"delivery_count":`...)
	b = strconv.AppendInt(b, int64(p.DeliveryCount), 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, p.Duplicate)
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// respondPublished answers a publish of one or (batch) several events.
func (c *call) respondPublished(status int, ps []publishedEvent, batch bool) error {
	buf := getBuf()
	defer putBuf(buf)
	b := buf.AvailableBuffer()
	if batch {
		b = append(b, `{"data":[`...)
	}
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPublished(b, &ps[i])
	}
	if batch {
		b = append(b, "]}"...)
	}
	b = append(b, '\n')
	buf.Write(b)
	return c.respondRaw(status, buf.Bytes())
}
