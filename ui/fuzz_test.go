package ui

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecodeToken: no input crashes the cookie parser, and only what was
// signed with the key is accepted.
func FuzzDecodeToken(f *testing.F) {
	k := deriveKeys(testKey)
	now := time.Unix(1_900_000_000, 0)
	valid := k.encode(token{Kind: kindKey, SID: "sid", KeyHash: "aGFzaA", Expires: now.Unix() + 60})
	f.Add(valid)
	f.Add(valid + "x")
	f.Add(strings.Replace(valid, ".", "", 1))
	f.Add(deriveKeys([]byte("another key, 32 bytes long......")).encode(token{Kind: kindPortal, SID: "s", Portal: "acme", Expires: now.Unix() + 60}))
	f.Add("")
	f.Add(".")
	f.Add("eyJrIjoia2V5In0.")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := k.decode(s, now)
		if err != nil {
			return
		}
		// The only payload signed with k that the fuzzer can know is the
		// seed's: accepting another would be a forgery.
		p, _, _ := strings.Cut(s, ".")
		vp, _, _ := strings.Cut(valid, ".")
		if p != vp {
			t.Fatalf("accepted an unsigned token %q as %+v", s, tok)
		}
		if tok.Expires <= now.Unix() || tok.SID == "" {
			t.Fatalf("accepted an expired or empty token %+v", tok)
		}
	})
}

// FuzzPortalLink: a link verifies only for the tenant and expiry it was
// signed for.
func FuzzPortalLink(f *testing.F) {
	k := deriveKeys(testKey)
	f.Add("acme", int64(1_900_000_000), "acme", int64(1_900_000_000), "")
	f.Add("acme", int64(1_900_000_000), "acme", int64(1_900_000_001), "")
	f.Add("acme", int64(1), "acmf", int64(1), "")
	f.Add("a", int64(12), "a1", int64(2), "")
	f.Add("acme", int64(5), "acme", int64(5), "00")
	f.Fuzz(func(t *testing.T, tenant string, exp int64, tenant2 string, exp2 int64, sig string) {
		good := k.portalSig(tenant, exp)
		if !k.portalValid(tenant, exp, good) {
			t.Fatal("a signed link does not verify")
		}
		if (tenant != tenant2 || exp != exp2) && k.portalValid(tenant2, exp2, good) {
			t.Fatalf("link for (%q, %d) verifies for (%q, %d)", tenant, exp, tenant2, exp2)
		}
		if sig != good && k.portalValid(tenant, exp, sig) && !strings.EqualFold(sig, good) {
			t.Fatalf("signature %q verifies", sig)
		}
	})
}

// FuzzParseFormTime: whatever a form sends, the time filter either refuses
// it or gives a UTC time that survives a round trip through the form.
func FuzzParseFormTime(f *testing.F) {
	for _, s := range []string{"", "2025-01-31T14:00", "2025-01-31T14:00:59", "2025-01-31T14:00:00+02:00", "2025-01-31", "yesterday", "9999-12-31T23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseFormTime(s)
		if !ok || tm.IsZero() {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%q parsed in %v", s, tm.Location())
		}
		if tm.Year() < 0 || tm.Year() > 9999 {
			return // beyond what a form can show
		}
		back, ok := parseFormTime(formatFormTime(tm))
		if !ok || !back.Equal(tm.Truncate(time.Second)) {
			t.Fatalf("%q → %v → %q → %v", s, tm, formatFormTime(tm), back)
		}
	})
}
