package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestIDDay(t *testing.T) {
	today := day(time.Now())
	for _, prefix := range []string{hookd.PrefixDelivery, hookd.PrefixAttempt, "x"} {
		id := hookd.NewID(prefix)
		if got := idDay(id); !got.Equal(today) && !got.Equal(today.AddDate(0, 0, -1)) {
			t.Errorf("idDay(%s) = %v, want today %v", id, got, today)
		}
	}
	for _, id := range []string{"", "dlv_1", "dlv_" + strings.Repeat("Z", 26), "dlv-01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"dlv_01ARZ3NDEKTSV4RRFFQ69G5FA", "dlv_01ARZ3NDEKTSV4RRFFQ69G5FAu", "dlv_00000000000000000000000000"} {
		if got := idDay(id); !got.Equal(epoch) {
			t.Errorf("idDay(%q) = %v, want the epoch", id, got)
		}
	}
	// A ULID of 2016-07-30 (the ULID spec's example).
	if got, want := idDay("evt_01ARZ3NDEKTSV4RRFFQ69G5FAV"), time.Date(2016, 7, 30, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("idDay of the spec's example = %v, want %v", got, want)
	}
}

func FuzzIDDay(f *testing.F) {
	f.Add(hookd.NewID(hookd.PrefixDelivery))
	f.Add("evt_01ARZ3NDEKTSV4RRFFQ69G5FAV")
	f.Add("dlv_1")
	f.Add("_" + strings.Repeat("7", 26))
	f.Fuzz(func(t *testing.T, id string) {
		d := idDay(id)
		if !d.Equal(day(d)) || d.Location() != time.UTC {
			t.Fatalf("idDay(%q) = %v, not a UTC day", id, d)
		}
		if !d.Equal(epoch) && (d.Year() < 2000 || d.Year() > 2999) {
			t.Fatalf("idDay(%q) = %v, outside the years kept", id, d)
		}
	})
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(time.Date(2100, 1, 2, 3, 4, 5, 123456000, time.UTC), "dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV"))
	f.Add(encodeCursor(time.Unix(0, 0), "42"))
	f.Add("")
	f.Add("!!")
	f.Add("MTIzfA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if hookd.ErrorCode(err) != hookd.EINVALID {
				t.Fatalf("decodeCursor(%q): %v, want EINVALID", s, err)
			}
			return
		}
		if !c.set {
			if s != "" {
				t.Fatalf("decodeCursor(%q) accepted an unset cursor", s)
			}
			return
		}
		again, err := decodeCursor(encodeCursor(c.at, c.key))
		if err != nil || !again.at.Equal(c.at) || again.key != c.key {
			t.Fatalf("cursor %q does not survive a round trip: %+v → %+v, %v", s, c, again, err)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2100, 1, 2, 3, 4, 5, 123456000, time.UTC)
	c, err := decodeCursor(encodeCursor(at, "a|b"))
	if err != nil || !c.at.Equal(at) || c.key != "a|b" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := c.seqKey(); err == nil {
		t.Error("a non-numeric key makes an event cursor")
	}
}
