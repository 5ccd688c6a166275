package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/hookd/hookd"
)

// Problem is an RFC 9457 problem document, the body of every error answer
// (Content-Type application/problem+json). Type is "urn:hookd:problem:"
// followed by the hookd.Error code ("invalid", "not_found" …), so clients
// can branch on it without parsing Detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists the invalid fields of a 422, each named as a path into
	// the request ("retry.schedule", "events[3].type") or by its query
	// parameter ("limit").
	Errors []hookd.FieldError `json:"errors,omitempty"`
}

// ProblemTypePrefix starts the Type of every Problem.
const ProblemTypePrefix = "urn:hookd:problem:"

// status is the one place that maps a hookd.Error code to an HTTP status.
func status(code string) int {
	switch code {
	case hookd.EINVALID:
		return http.StatusUnprocessableEntity
	case hookd.EMALFORMED:
		return http.StatusBadRequest
	case hookd.ENOTFOUND:
		return http.StatusNotFound
	case hookd.ECONFLICT, hookd.EDUPLICATE:
		return http.StatusConflict
	case hookd.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case hookd.EFORBIDDEN:
		return http.StatusForbidden
	case hookd.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case hookd.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case hookd.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case hookd.EMETHOD:
		return http.StatusMethodNotAllowed
	case hookd.ERATELIMITED:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// problemFor turns any error into the Problem answered for it. Causes are
// never shown: only a *hookd.Error's Message and Fields are meant for
// callers, and anything else gets a generic detail (the caller logs it).
func problemFor(err error) *Problem {
	var e *hookd.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.DeadlineExceeded) {
			e = &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the request took too long"}
		} else {
			e = &hookd.Error{Code: hookd.EINTERNAL}
		}
	}
	st := status(e.Code)
	code := e.Code
	p := &Problem{Status: st, Title: http.StatusText(st), Detail: e.Message, Errors: e.Fields}
	if st == http.StatusInternalServerError {
		code = hookd.EINTERNAL
		p.Detail = "internal error; the server log has the cause"
		p.Errors = nil
	}
	p.Type = ProblemTypePrefix + code
	return p
}
