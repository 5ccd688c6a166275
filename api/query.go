package api

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// param is one query parameter a route accepts. The same declaration
// validates requests and documents the parameter in the OpenAPI document.
type param struct {
	name string
	kind paramKind
	doc  string
}

type paramKind int

const (
	kindString paramKind = iota // an id or a type, at most maxParam bytes
	kindLimit                   // 1..hookd.MaxLimit
	kindTime                    // RFC 3339
	kindState                   // a hookd.DeliveryState
	kindBool                    // true or false
)

const maxParam = 1024

// The parameters of the lists. Every list takes limit and cursor.
var (
	pLimit  = param{"limit", kindLimit, "page size, 1 to 1000 (default 50)"}
	pCursor = param{"cursor", kindString, "next_cursor of the previous page"}
	pSince  = param{"since", kindTime, "only rows created at or after this RFC 3339 time"}
	pUntil  = param{"until", kindTime, "only rows created before this RFC 3339 time"}

	listParams       = []param{pLimit, pCursor}
	eventListParams  = []param{pLimit, pCursor, {"type", kindString, "only events of this exact type"}, pSince, pUntil}
	deliveryParams   = []param{pLimit, pCursor, {"endpoint_id", kindString, "only this endpoint's deliveries"}, {"event_id", kindString, "only this event's deliveries"}, {"event_type", kindString, "only deliveries of events of this exact type"}, {"status", kindState, "pending, succeeded, failed or cancelled"}, pSince, pUntil}
	attemptParams    = []param{pLimit, pCursor, {"failed", kindBool, "true: only failed attempts; false: only successful ones"}, pSince, pUntil}
	deliveryStateSet = []string{string(hookd.StatePending), string(hookd.StateSucceeded), string(hookd.StateFailed), string(hookd.StateCancelled)}
)

// parseQuery validates the query string against the route's parameters,
// reporting every bad or unknown parameter at once.
func parseQuery(raw string, params []param) (query, error) {
	q := query{ListParams: hookd.ListParams{Limit: hookd.DefaultLimit}}
	if raw == "" {
		return q, nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return q, hookd.Errorf(hookd.EMALFORMED, "the query string is malformed")
	}
	var v hookd.Validation
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vals := values[name]
		p, ok := findParam(params, name)
		if !ok {
			v.Add(truncate(name, 64), "is not a query parameter of this route%s", paramList(params))
			continue
		}
		if len(vals) > 1 {
			v.Add(name, "is given more than once")
			continue
		}
		s := vals[0]
		if len(s) > maxParam {
			v.Add(name, "must be at most %d bytes", maxParam)
			continue
		}
		switch p.kind {
		case kindLimit:
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > hookd.MaxLimit {
				v.Add(name, "must be an integer from 1 to %d", hookd.MaxLimit)
				continue
			}
			q.Limit = n
		case kindTime:
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				v.Add(name, "must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
				continue
			}
			if name == "since" {
				q.Since = t.UTC()
			} else {
				q.Until = t.UTC()
			}
		case kindState:
			st := hookd.DeliveryState(s)
			if !st.Valid() {
				v.Add(name, "must be one of %s", strings.Join(deliveryStateSet, ", "))
				continue
			}
			q.Status = st
		case kindBool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				v.Add(name, "must be true or false")
				continue
			}
			q.Failed = &b
		default:
			switch name {
			case "cursor":
				q.Cursor = s
			case "type", "event_type":
				if !hookd.ValidEventType(s) {
					v.Add(name, "must match [A-Za-z0-9_.-]{1,128}")
					continue
				}
				if name == "type" {
					q.Type = s
				} else {
					q.EventType = s
				}
			case "endpoint_id":
				q.EndpointID = s
			case "event_id":
				q.EventID = s
			}
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		v.Add("until", "must be after since")
	}
	return q, v.Err()
}

func findParam(params []param, name string) (param, bool) {
	for _, p := range params {
		if p.name == name {
			return p, true
		}
	}
	return param{}, false
}

func paramList(params []param) string {
	if len(params) == 0 {
		return "; it takes none"
	}
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.name
	}
	return "; it takes " + strings.Join(names, ", ")
}
