package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/hookd/hookd"
)

// call is one request on its way through a route: who asks, for which
// tenant, with which query.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	rt     *route
	p      *hookd.Principal
	tenant string
	q      query
}

// query holds every query parameter any route takes; a route declares the
// ones it accepts (route.query) and the others stay zero.
type query struct {
	hookd.ListParams
	Since, Until time.Time
	Type         string
	EndpointID   string
	EventID      string
	EventType    string
	Status       hookd.DeliveryState
	Failed       *bool
}

// bufPool recycles request and response buffers, which on the publish
// route would otherwise be the largest allocations per request.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 4<<20 { // let the rare huge batch go rather than pin it
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// decodeOptions make decoding strict: unknown members are reported with
// their path, names match case-sensitively, and duplicate names are
// refused (by default), so what a caller meant is never guessed.
var decodeOptions = jsonv2.RejectUnknownMembers(true)

// readBody reads the body, at most limit bytes, into a pooled buffer the
// caller must return with putBuf. A missing body reads as empty.
func (c *call) readBody(limit int64) (*bytes.Buffer, error) {
	if ct := c.r.Header.Get("Content-Type"); ct != "" && !jsonContentType(ct) {
		return nil, hookd.Errorf(hookd.EUNSUPPORTED, "Content-Type must be application/json, not %q", truncate(ct, 100))
	}
	if c.r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	buf := getBuf()
	n, err := buf.ReadFrom(io.LimitReader(c.r.Body, limit+1))
	if err != nil {
		putBuf(buf)
		return nil, hookd.Errorf(hookd.EMALFORMED, "reading the request body failed")
	}
	if n > limit {
		putBuf(buf)
		return nil, tooLarge(limit)
	}
	return buf, nil
}

// jsonContentType reports whether a body of type ct is read as JSON:
// application/json and any application/*+json. application/x-www-form-
// urlencoded is accepted too, because it is what curl -d sends unless told
// otherwise, and a real form body fails as malformed JSON anyway; since
// credentials travel in the Authorization header, which a cross-site form
// cannot set, accepting it opens no CSRF hole.
func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/x-www-form-urlencoded" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func tooLarge(limit int64) error {
	return hookd.Errorf(hookd.ETOOLARGE, "the request body is larger than %d bytes", limit)
}

// decode reads the body, which must be one JSON object, into v.
func (c *call) decode(v any, limit int64) error {
	buf, err := c.readBody(limit)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return hookd.Errorf(hookd.EMALFORMED, "the request body must be a JSON object")
	}
	return decodeError(jsonv2.Unmarshal(buf.Bytes(), v, decodeOptions))
}

// decodeError turns an error of the JSON decoder into a *hookd.Error:
// syntax errors are EMALFORMED (400), values of the wrong type and unknown
// members EINVALID (422) naming the field.
func decodeError(err error) error {
	if err == nil {
		return nil
	}
	var se *jsonv2.SemanticError
	if errors.As(err, &se) {
		if se.JSONPointer == "" && se.Err == nil {
			return hookd.Errorf(hookd.EMALFORMED, "the request body must be a JSON object, not %s", kindName(se.JSONKind))
		}
		field := fieldPath(se.JSONPointer)
		switch {
		case errors.Is(se.Err, jsonv2.ErrUnknownName):
			return hookd.Invalid(field, "is not a known field")
		case se.GoType != nil:
			return hookd.Invalid(field, "%s", expected(se.GoType))
		}
		return hookd.Invalid(field, "is not valid")
	}
	var sy *jsontext.SyntacticError
	if errors.As(err, &sy) {
		msg := strings.TrimPrefix(sy.Err.Error(), "jsontext: ")
		if sy.JSONPointer != "" {
			return hookd.Errorf(hookd.EMALFORMED, "malformed JSON at byte %d (in %s): %s", sy.ByteOffset, fieldPath(sy.JSONPointer), msg)
		}
		return hookd.Errorf(hookd.EMALFORMED, "malformed JSON at byte %d: %s", sy.ByteOffset, msg)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return hookd.Errorf(hookd.EMALFORMED, "the JSON body ends too early")
	}
	return hookd.Errorf(hookd.EMALFORMED, "malformed JSON")
}

var timeType = reflect.TypeFor[time.Time]()

// expected says what a field of Go type t must hold, in JSON terms.
func expected(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "must be an RFC 3339 timestamp"
	case t == reflect.TypeFor[hookd.Duration]():
		return hookd.DurationMessage
	case t == reflect.TypeFor[json.RawMessage]():
		return "must be a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be an integer in range"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Slice, reflect.Array:
		return "must be an array"
	case reflect.Map, reflect.Struct:
		return "must be an object"
	}
	return "has the wrong type"
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "that"
}

// fieldPath turns a JSON pointer ("/events/3/type") into the field names
// the domain's validation uses ("events[3].type").
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && tok != "" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// respond writes v as JSON with the given status.
func (c *call) respond(status int, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err // a bug: every response type marshals
	}
	return c.respondRaw(status, buf.Bytes())
}

// respondRaw answers with a JSON document already encoded.
func (c *call) respondRaw(status int, doc []byte) error {
	h := c.w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = nosniff
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(doc)
	return nil
}

// Shared header values: net/http only reads them, so one slice serves
// every response without an allocation.
var (
	jsonType = []string{"application/json"}
	nosniff  = []string{"nosniff"}
)

// noContent answers 204.
func (c *call) noContent() error {
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// page is the envelope of every list.
type page[T any] struct {
	Data []T `json:"data"`
	// NextCursor fetches the next page (?cursor=); absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

func newPage[T any](data []T, next string) page[T] {
	if data == nil {
		data = []T{}
	}
	return page[T]{Data: data, NextCursor: next}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
