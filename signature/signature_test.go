package signature_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v81/github"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/hookd/hookd/signature"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return signature.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

func mustSigner(t *testing.T, scheme, header string, secrets ...signature.Secret) *signature.Signer {
	t.Helper()
	s, err := signature.NewSigner(scheme, header, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var body = []byte(`{"id":"evt_1","type":"order.created","timestamp":"2026-01-02T03:04:05Z","data":{"amount":100}}`)

// The default scheme must verify with the Standard Webhooks reference
// library, with one secret and with each of two during a rotation.
func TestStandardWebhooksVerifiedByReferenceLibrary(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	now := time.Now()
	s := mustSigner(t, "", "", signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: now.Add(time.Hour)})
	h := http.Header{}
	s.Sign(h, "evt_1", now, body)

	if got := h.Get(signature.HeaderID); got != "evt_1" {
		t.Errorf("webhook-id = %q", got)
	}
	if got := strings.Split(h.Get(signature.HeaderSignature), " "); len(got) != 2 {
		t.Fatalf("webhook-signature %q: want two space-separated signatures", h.Get(signature.HeaderSignature))
	}
	for _, sec := range []string{cur, old} {
		wh, err := standardwebhooks.NewWebhook(sec)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("reference library rejects a signature: %v", err)
		}
	}
	// A secret that never signed is rejected by the reference library.
	wh, _ := standardwebhooks.NewWebhook(newSecret(t))
	if err := wh.Verify(body, h); err == nil {
		t.Error("reference library accepts a signature of an unrelated secret")
	}
	// A changed body is rejected.
	wh, _ = standardwebhooks.NewWebhook(cur)
	if err := wh.Verify(append([]byte{' '}, body...), h); err == nil {
		t.Error("reference library accepts a changed body")
	}
}

// Once the grace of the old secret ends it no longer signs.
func TestExpiredSecretDoesNotSign(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	now := time.Now()
	s := mustSigner(t, "", "", signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: now})
	h := http.Header{}
	s.Sign(h, "evt_1", now, body)
	if n := len(strings.Fields(h.Get(signature.HeaderSignature))); n != 1 {
		t.Fatalf("%d signatures at the old secret's expiry, want 1", n)
	}
	wh, _ := standardwebhooks.NewWebhook(old)
	if err := wh.Verify(body, h); err == nil {
		t.Error("the expired secret still signs")
	}
}

func TestStripeVerifiedByStripeLibrary(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	now := time.Now()
	for _, header := range []string{"", "Acme-Signature"} {
		s := mustSigner(t, signature.Stripe, header, signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: now.Add(time.Hour)})
		h := http.Header{}
		s.Sign(h, "evt_1", now, body)
		name := header
		if name == "" {
			name = "Stripe-Signature"
		}
		if s.Header() != name {
			t.Errorf("Header() = %q, want %q", s.Header(), name)
		}
		val := h.Get(name)
		if !strings.HasPrefix(val, "t=") || strings.Count(val, ",v1=") != 2 {
			t.Fatalf("%s = %q, want t=…,v1=…,v1=…", name, val)
		}
		if len(h) != 1 {
			t.Errorf("stripe set %d headers, want only %s: %v", len(h), name, h)
		}
		for _, sec := range []string{cur, old} {
			if err := webhook.ValidatePayloadWithTolerance(body, val, sec, 5*time.Minute); err != nil {
				t.Errorf("stripe-go rejects the signature: %v", err)
			}
		}
		if err := webhook.ValidatePayloadWithTolerance(body, val, newSecret(t), 5*time.Minute); err == nil {
			t.Error("stripe-go accepts an unrelated secret")
		}
	}
	// A timestamp beyond the tolerance is refused by Stripe's library too:
	// the timestamp is really the signed one.
	s := mustSigner(t, signature.Stripe, "", signature.Secret{Value: cur})
	h := http.Header{}
	s.Sign(h, "evt_1", now.Add(-time.Hour), body)
	if err := webhook.ValidatePayloadWithTolerance(body, h.Get("Stripe-Signature"), cur, 5*time.Minute); !errors.Is(err, webhook.ErrTooOld) {
		t.Errorf("an hour-old stripe signature: %v, want ErrTooOld", err)
	}
}

func TestHMACVerifiedByGoGitHub(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	now := time.Now()
	s := mustSigner(t, signature.HMACSHA256Hex, "", signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: now.Add(time.Hour)})
	h := http.Header{}
	s.Sign(h, "evt_1", now, body)
	vals := h.Values("X-Hub-Signature-256")
	if len(vals) != 2 {
		t.Fatalf("X-Hub-Signature-256 = %q, want one field line per secret", vals)
	}
	// Newest first: a receiver reading only the first line checks the
	// current secret.
	if err := github.ValidateSignature(vals[0], body, []byte(cur)); err != nil {
		t.Errorf("go-github rejects the current secret's signature: %v", err)
	}
	if err := github.ValidateSignature(vals[1], body, []byte(old)); err != nil {
		t.Errorf("go-github rejects the old secret's signature: %v", err)
	}
	if err := github.ValidateSignature(vals[0], body, []byte(old)); err == nil {
		t.Error("go-github accepts the wrong secret")
	}
	// go-github's request-level check uses the first line.
	req, _ := http.NewRequest("POST", "http://x/", strings.NewReader(string(body)))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	if _, err := github.ValidatePayload(req, []byte(cur)); err != nil {
		t.Errorf("go-github ValidatePayload: %v", err)
	}
	// A renamed header.
	s = mustSigner(t, signature.HMACSHA256Hex, "x-webhook-signature", signature.Secret{Value: cur})
	h = http.Header{}
	s.Sign(h, "evt_1", now, body)
	if err := github.ValidateSignature(h.Get("X-Webhook-Signature"), body, []byte(cur)); err != nil {
		t.Errorf("renamed header: %v", err)
	}
}

func TestVerifierRoundTrip(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	now := time.Now()
	for _, scheme := range []string{signature.StandardWebhooks, signature.Stripe, signature.HMACSHA256Hex} {
		t.Run(scheme, func(t *testing.T) {
			s := mustSigner(t, scheme, "", signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: now.Add(time.Hour)})
			h := http.Header{}
			s.Sign(h, "evt_1", now, body)
			for _, secrets := range [][]string{{cur}, {old}, {newSecret(t), old}} {
				v := signature.Verifier{Scheme: scheme, Secrets: secrets}
				if err := v.Verify(h, body); err != nil {
					t.Errorf("Verify with %d secrets: %v", len(secrets), err)
				}
			}
			v := signature.Verifier{Scheme: scheme, Secrets: []string{newSecret(t)}}
			if err := v.Verify(h, body); !errors.Is(err, signature.ErrNoMatch) {
				t.Errorf("unrelated secret: %v, want ErrNoMatch", err)
			}
			v = signature.Verifier{Scheme: scheme, Secrets: []string{cur}}
			if err := v.Verify(h, []byte(`{}`)); !errors.Is(err, signature.ErrNoMatch) {
				t.Errorf("changed body: %v, want ErrNoMatch", err)
			}
			if err := v.Verify(http.Header{}, body); !errors.Is(err, signature.ErrMissing) {
				t.Errorf("no headers: %v, want ErrMissing", err)
			}
		})
	}
}

// Merged field lines ("a, b") verify like separate ones.
func TestVerifierMergedHMACLines(t *testing.T) {
	old, cur := newSecret(t), newSecret(t)
	s := mustSigner(t, signature.HMACSHA256Hex, "", signature.Secret{Value: cur}, signature.Secret{Value: old, ExpiresAt: time.Now().Add(time.Hour)})
	h := http.Header{}
	s.Sign(h, "", time.Now(), body)
	merged := http.Header{"X-Hub-Signature-256": {strings.Join(h.Values("X-Hub-Signature-256"), ", ")}}
	v := signature.Verifier{Scheme: signature.HMACSHA256Hex, Secrets: []string{old}}
	if err := v.Verify(merged, body); err != nil {
		t.Fatal(err)
	}
}

func TestVerifierTolerance(t *testing.T) {
	sec := newSecret(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, scheme := range []string{signature.StandardWebhooks, signature.Stripe} {
		s := mustSigner(t, scheme, "", signature.Secret{Value: sec})
		for _, tc := range []struct {
			signedAt time.Time
			tol      time.Duration
			want     error
		}{
			{now.Add(-4 * time.Minute), 0, nil},
			{now.Add(-6 * time.Minute), 0, signature.ErrTooOld},
			{now.Add(6 * time.Minute), 0, signature.ErrTooNew},
			{now.Add(-6 * time.Minute), 10 * time.Minute, nil},
			{now.Add(-48 * time.Hour), -1, nil},
		} {
			h := http.Header{}
			s.Sign(h, "evt_1", tc.signedAt, body)
			v := signature.Verifier{Scheme: scheme, Secrets: []string{sec}, Tolerance: tc.tol, Now: func() time.Time { return now }}
			if err := v.Verify(h, body); !errors.Is(err, tc.want) {
				t.Errorf("%s signed %s from now, tolerance %s: %v, want %v", scheme, tc.signedAt.Sub(now), tc.tol, err, tc.want)
			}
		}
	}
}

func TestVerifierMalformed(t *testing.T) {
	sec := newSecret(t)
	now := time.Now()
	unix := func() string { return strconv.FormatInt(now.Unix(), 10) }
	for _, tc := range []struct {
		scheme string
		h      http.Header
	}{
		{signature.StandardWebhooks, http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {"12a"}, "Webhook-Signature": {"v1,AAAA"}}},
		{signature.StandardWebhooks, http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {unix()}, "Webhook-Signature": {"v1AAAA"}}},
		{signature.StandardWebhooks, http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {unix()}, "Webhook-Signature": {"v1,not*base64"}}},
		{signature.StandardWebhooks, http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {unix()}, "Webhook-Signature": {"v1a,AAAA"}}},
		{signature.StandardWebhooks, http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {"99999999999999999999"}, "Webhook-Signature": {"v1,AAAA"}}},
		{signature.Stripe, http.Header{"Stripe-Signature": {"v1=00"}}},
		{signature.Stripe, http.Header{"Stripe-Signature": {"t=" + unix()}}},
		{signature.Stripe, http.Header{"Stripe-Signature": {"t=" + unix() + ",v1"}}},
		{signature.Stripe, http.Header{"Stripe-Signature": {"t=" + unix() + ",t=1,v1=" + strings.Repeat("00", 32)}}},
		{signature.HMACSHA256Hex, http.Header{"X-Hub-Signature-256": {"sha1=00"}}},
		{signature.HMACSHA256Hex, http.Header{"X-Hub-Signature-256": {"sha256=zz"}}},
		{signature.HMACSHA256Hex, http.Header{"X-Hub-Signature-256": {" , "}}},
	} {
		v := signature.Verifier{Scheme: tc.scheme, Secrets: []string{sec}}
		if err := v.Verify(tc.h, body); !errors.Is(err, signature.ErrMalformed) {
			t.Errorf("%s %v: %v, want ErrMalformed", tc.scheme, tc.h, err)
		}
	}
}

func TestNewSignerErrors(t *testing.T) {
	if _, err := signature.NewSigner("md5", ""); !errors.Is(err, signature.ErrUnknownScheme) {
		t.Errorf("unknown scheme: %v", err)
	}
	if _, err := signature.NewSigner("", "", signature.Secret{Value: "whsec_***"}); !errors.Is(err, signature.ErrBadSecret) {
		t.Errorf("bad secret: %v", err)
	}
	if _, err := signature.NewSigner(signature.StandardWebhooks, "X-Sig"); err == nil {
		t.Error("standard-webhooks accepted a header name")
	}
	// stripe and hmac take any secret string as key bytes.
	if _, err := signature.NewSigner(signature.Stripe, "", signature.Secret{Value: "not whsec"}); err != nil {
		t.Errorf("stripe with a plain secret: %v", err)
	}
}

func BenchmarkSign(b *testing.B) {
	for _, scheme := range []string{signature.StandardWebhooks, signature.Stripe, signature.HMACSHA256Hex} {
		b.Run(scheme, func(b *testing.B) {
			s, _ := signature.NewSigner(scheme, "", signature.Secret{Value: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))})
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				h := make(http.Header, 4)
				s.Sign(h, "evt_1", now, body)
			}
		})
	}
}
