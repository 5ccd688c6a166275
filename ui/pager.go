package ui

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// pager links the pages of a keyset-paginated list. Store cursors only go
// forward, so the way back is carried in the URL: p holds the cursors of
// the pages before this one (the first page's is ""), at most maxTrail of
// them; beyond that "First page" still gets the visitor home.
type pager struct {
	Next, Prev, First string // query strings ("?…"), "" when there is none
}

const maxTrail = 20

func newPager(q url.Values, next string) pager {
	var pg pager
	cur := q.Get("cursor")
	trail := q["p"]
	if len(trail) > maxTrail {
		trail = trail[len(trail)-maxTrail:]
	}
	with := func(cursor string, trail []string) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "cursor" && k != "p" && k != "done" && k != "n" {
				v[k] = vs
			}
		}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		if len(trail) > 0 {
			v["p"] = trail
		}
		if len(v) == 0 {
			return "?"
		}
		return "?" + v.Encode()
	}
	if next != "" {
		t := append(trail[:len(trail):len(trail)], cur)
		if len(t) > maxTrail {
			t = t[len(t)-maxTrail:]
		}
		pg.Next = with(next, t)
	}
	if cur != "" {
		pg.First = with("", nil)
		if len(trail) > 0 {
			pg.Prev = with(trail[len(trail)-1], trail[:len(trail)-1])
		}
	}
	return pg
}

func parseInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// Times in forms are UTC, as everywhere in hookd. A datetime-local input
// sends "2006-01-02T15:04" (seconds optional); RFC 3339 is accepted too for
// links made by hand or by the API.
const formTime = "2006-01-02T15:04"

func parseFormTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func formatFormTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if t.Second() != 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format(formTime)
}
