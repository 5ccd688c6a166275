package signature

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The parsers read attacker-controlled headers: they must never panic,
// must fail only with ErrMalformed, and must bound what they return.

func FuzzParseStandard(f *testing.F) {
	for _, s := range []string{
		"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
		"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,abc v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
		"", " ", "v1,", ",", "v1,,", "v2,abc", "v1,!!!!",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sigs, err := parseStandard(s)
		checkParsed(t, sigs, err)
	})
}

func FuzzParseStripe(f *testing.F) {
	for _, s := range []string{
		"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
		"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
		"", "t=", "t=1", "v1=00", "t=1,,v1=00", "t=-1,v1=00", "t=1=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		unix, sigs, err := parseStripe(s)
		checkParsed(t, sigs, err)
		if err == nil && unix < 0 {
			t.Fatalf("negative timestamp %d", unix)
		}
	})
}

func FuzzParseHMAC(f *testing.F) {
	for _, s := range []string{
		"sha256=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
		"sha256=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd, sha256=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
		"", "sha256=", "sha1=00", "=", ",,,",
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sigs, err := parseHMAC([]string{a, b})
		checkParsed(t, sigs, err)
	})
}

// FuzzVerify drives Verify with arbitrary headers: it must not panic and
// must not accept a signature it did not compute.
func FuzzVerify(f *testing.F) {
	f.Add("standard-webhooks", "evt_1", "1700000000", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", []byte("{}"))
	f.Add("stripe", "", "", "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", []byte("{}"))
	f.Add("hmac-sha256-hex", "", "", "sha256=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", []byte("{}"))
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Fuzz(func(t *testing.T, scheme, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		h.Set(DefaultStripeHeader, sig)
		h.Set(DefaultHMACHeader, sig)
		v := Verifier{Scheme: scheme, Secrets: []string{secret}, Tolerance: -1}
		err := v.Verify(h, body)
		if err == nil {
			// Only a real signature may pass: re-sign and compare.
			s, _ := NewSigner(scheme, "", Secret{Value: secret})
			want := http.Header{}
			var at time.Time
			if scheme == HMACSHA256Hex {
				at = time.Unix(0, 0)
			} else {
				n, perr := parseUnix(ts)
				if scheme == Stripe {
					n, _, perr = parseStripe(sig)
				}
				if perr != nil {
					t.Fatalf("accepted an unparsable timestamp: %v", perr)
				}
				at = time.Unix(n, 0)
			}
			s.Sign(want, id, at, body)
			if mac := lastMAC(want.Get(s.Header())); !strings.Contains(sig, mac) {
				t.Fatalf("accepted %q, which lacks the signature hookd computes (%s)", sig, mac)
			}
		}
	})
}

// lastMAC returns the encoded MAC at the end of a one-secret signature
// header of any scheme ("v1,<b64>", "t=…,v1=<hex>", "sha256=<hex>").
func lastMAC(v string) string {
	for _, p := range []string{"v1=", "v1,", "sha256="} {
		if i := strings.LastIndex(v, p); i >= 0 {
			return v[i+len(p):]
		}
	}
	panic("no signature in " + v)
}

func checkParsed(t *testing.T, sigs [][]byte, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if len(err.Error()) > 500 {
			t.Fatalf("error message of %d bytes: quoted input is not clipped", len(err.Error()))
		}
		return
	}
	if len(sigs) == 0 || len(sigs) > maxSignatures {
		t.Fatalf("%d signatures without error", len(sigs))
	}
	for _, s := range sigs {
		if len(s) != 32 {
			t.Fatalf("signature of %d bytes", len(s))
		}
	}
}
