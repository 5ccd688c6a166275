package sqlite

import (
	"testing"

	"github.com/hookd/hookd"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, k := range []struct{ t, rowid int64 }{{0, 1}, {-5, 7}, {4102444800000000, 1 << 62}} {
		c := encodeKey(kindEvent, k.t, k.rowid)
		gt, gr, ok, err := decodeKey(kindEvent, c)
		if err != nil || !ok || gt != k.t || gr != k.rowid {
			t.Errorf("decode(encode(%d, %d)) = %d, %d, %v, %v", k.t, k.rowid, gt, gr, ok, err)
		}
		if _, _, _, err := decodeKey(kindDelivery, c); hookd.ErrorCode(err) != hookd.EINVALID {
			t.Errorf("an event cursor decoded as a delivery cursor: %v", err)
		}
	}
	if id, err := decodeTenant(encodeTenant("acme-1.x")); err != nil || id != "acme-1.x" {
		t.Errorf("tenant cursor: %q, %v", id, err)
	}
}

// FuzzCursor checks that decoding never panics and accepts only what
// encoding makes.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "x", encodeKey(kindEvent, 1, 2), encodeKey(kindAPIKey, -1, 1<<40), encodeTenant("acme"), "ZQAAAAAAAAABAAAAAAAAAAI", "ZQAAAAAAAAABAAAAAAAAAAJ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ts, rowid, ok, err := decodeKey(kindEvent, s); err == nil && ok {
			if again := encodeKey(kindEvent, ts, rowid); again != s {
				t.Fatalf("%q decoded to (%d, %d), which encodes as %q", s, ts, rowid, again)
			}
		} else if err != nil && hookd.ErrorCode(err) != hookd.EINVALID {
			t.Fatalf("%q: %v", s, err)
		}
		if id, err := decodeTenant(s); err == nil && s != "" && encodeTenant(id) != s {
			t.Fatalf("%q decoded to tenant %q, which encodes as %q", s, id, encodeTenant(id))
		}
	})
}
