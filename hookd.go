// Package hookd holds the domain of a webhook sending server: tenants,
// endpoints, events, deliveries and attempts, the errors they produce, and the
// interfaces (Store, Engine) that the rest of the module implements.
//
// An application publishes an Event for a tenant. In the same transaction that
// stores the event, hookd fans it out: one Delivery per Endpoint of that
// tenant whose event-type filter (and optional CEL filter) matches. A delivery
// is pending until one of its Attempts succeeds, its retry policy is
// exhausted (failed), or it is cancelled. Every attempt is one signed HTTP
// request and is recorded with its outcome, duration, status and a bounded
// excerpt of the response.
//
// This package imports nothing else of the module. Storage lives in
// store/sqlite and store/postgres (both pass store/storetest), the delivery
// engine in delivery, signing in signature, the HTTP API in api, and
// cmd/hookd wires them together.
package hookd

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. The api package maps each to one HTTP status, so no handler
// decides on its own whether something is a 404 or a 422.
const (
	EINVALID      = "invalid"      // 422: a field failed validation
	EMALFORMED    = "malformed"    // 400: the request could not be parsed
	ENOTFOUND     = "not_found"    // 404: absent, or another tenant's
	ECONFLICT     = "conflict"     // 409: the state forbids the change
	EUNAUTHORIZED = "unauthorized" // 401: no or bad credentials
	EFORBIDDEN    = "forbidden"    // 403: credentials lack a scope
	ETOOLARGE     = "too_large"    // 413: body over the limit
	EUNAVAILABLE  = "unavailable"  // 503: shutting down, store unreachable
	EINTERNAL     = "internal"     // 500: a bug; never caused by input
	ERATELIMITED  = "rate_limited" // 429
	EUNSUPPORTED  = "unsupported"  // 415: wrong content type
	EMETHOD       = "not_allowed"  // 405
	EDUPLICATE    = "duplicate"    // internal: unique key already present
)

// FieldError names one invalid field of a request and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of hookd's domain. Code is one of the E*
// constants; Message is safe to show to the caller; Fields lists validation
// failures for EINVALID.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error // the cause, never shown to callers
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error for one field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: EINVALID, Message: field + ": " + msg, Fields: []FieldError{{Field: field, Message: msg}}}
}

// NotFound returns an ENOTFOUND error naming what was looked for.
func NotFound(what string) *Error {
	return &Error{Code: ENOTFOUND, Message: what + " not found"}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Validation collects field errors so that a request reports all of them at
// once instead of one per round trip.
type Validation struct{ fields []FieldError }

// Add records that field is invalid.
func (v *Validation) Add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was added, else an EINVALID *Error.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	msgs := make([]string, len(v.fields))
	for i, f := range v.fields {
		msgs[i] = f.Field + ": " + f.Message
	}
	return &Error{Code: EINVALID, Message: strings.Join(msgs, "; "), Fields: v.fields}
}
