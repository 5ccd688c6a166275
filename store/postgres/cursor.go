package postgres

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// A cursor is the sort key of the last row of a page, (time, tie-breaker),
// base64url-encoded so that callers treat it as opaque. Keyset pagination
// on it is stable while rows arrive: a page starts strictly after the key.

const maxCursor = 512

// cursor is a decoded cursor; zero when a list starts at the top.
type cursor struct {
	at  time.Time
	key string // the row's id, or its seq in decimal for events
	set bool
}

func encodeCursor(at time.Time, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "|" + key))
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	bad := hookd.Invalid("cursor", "is not a cursor of this list")
	if len(s) > maxCursor {
		return cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	us, key, ok := strings.Cut(string(b), "|")
	if !ok || key == "" {
		return cursor{}, bad
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n < -62135596800000000 || n > 253402300799999999 { // years 1–9999
		return cursor{}, bad
	}
	return cursor{at: time.UnixMicro(n).UTC(), key: key, set: true}, nil
}

// seqKey parses an event cursor's key.
func (c cursor) seqKey() (int64, error) {
	n, err := strconv.ParseInt(c.key, 10, 64)
	if err != nil {
		return 0, hookd.Invalid("cursor", "is not a cursor of this list")
	}
	return n, nil
}
