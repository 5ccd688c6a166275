package hookd

import (
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	prev := newIDAt("x", base)
	if len(prev) != 2+26 {
		t.Fatalf("id %q has length %d", prev, len(prev))
	}
	for i := 1; i < 2000; i++ {
		id := newIDAt("x", base.Add(time.Duration(i)*time.Millisecond))
		if id <= prev {
			t.Fatalf("%s after %s does not sort later", id, prev)
		}
		prev = id
	}
	if a, b := newIDAt("x", base), newIDAt("x", base); a == b {
		t.Errorf("two ids in one millisecond are equal: %s", a)
	}
}
