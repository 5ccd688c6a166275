package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v81/github"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// TestRotation: during the grace period both the new and the old secret
// sign each request, and the Standard Webhooks library accepts it with
// either; a rotation without grace retires the secret it replaces at once.
func TestRotation(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	ep := s.createEndpoint("acme", obj{"url": rcv.URL})
	old := ep.Secret

	var rotated secretView
	s.must(http.StatusOK, "POST", "/v1/tenants/acme/endpoints/"+ep.ID+"/secret/rotate", obj{"grace": "1h"}, &rotated)
	if rotated.Secret == old || !hookd.ValidSecret(rotated.Secret) {
		t.Fatalf("rotation gave secret %q (old %q)", rotated.Secret, old)
	}
	if len(rotated.Previous) != 1 || rotated.Previous[0].Value != old {
		t.Fatalf("previous secrets = %+v, want the old one", rotated.Previous)
	}

	s.publish("acme", obj{"type": "order.created", "data": obj{"n": 1}})
	req := rcv.Wait(1)[0]
	sigs := strings.Fields(req.Header.Get("Webhook-Signature"))
	if len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two signatures", req.Header.Get("Webhook-Signature"))
	}
	for _, sig := range sigs {
		if !strings.HasPrefix(sig, "v1,") {
			t.Errorf("signature %q does not start with v1,", sig)
		}
	}
	for _, secret := range []string{rotated.Secret, old} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(req.Body, req.Header); err != nil {
			t.Errorf("secret %s…: %v", secret[:10], err)
		}
	}

	// Rotating with no grace retires the current secret at once; the first
	// one keeps its own grace.
	var again secretView
	s.must(http.StatusOK, "POST", "/v1/tenants/acme/endpoints/"+ep.ID+"/secret/rotate", obj{"grace": "0s"}, &again)
	s.publish("acme", obj{"type": "order.created", "data": obj{"n": 2}})
	req = rcv.Wait(2)[1]
	if sigs := strings.Fields(req.Header.Get("Webhook-Signature")); len(sigs) != 2 {
		t.Errorf("after a rotation without grace: %d signatures, want 2", len(sigs))
	}
	for secret, want := range map[string]bool{again.Secret: true, rotated.Secret: false, old: true} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(req.Body, req.Header); (err == nil) != want {
			t.Errorf("secret %s… verifies: %v, want %v", secret[:10], err == nil, want)
		}
	}
}

// TestStripeScheme: Stripe's own library accepts the signature header.
func TestStripeScheme(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	ep := s.createEndpoint("acme", obj{"url": rcv.URL, "signature": obj{"scheme": "stripe", "header": "Stripe-Signature"}})
	s.publish("acme", obj{"type": "invoice.paid", "data": obj{"amount": 10}})
	req := rcv.Wait(1)[0]
	header := req.Header.Get("Stripe-Signature")
	if !strings.HasPrefix(header, "t=") || !strings.Contains(header, ",v1=") {
		t.Fatalf("Stripe-Signature = %q, want t=…,v1=…", header)
	}
	if err := webhook.ValidatePayload(req.Body, header, ep.Secret); err != nil {
		t.Errorf("stripe-go rejects the signature: %v", err)
	}
	if err := webhook.ValidatePayload(req.Body, header, hookd.NewSecret()); err == nil {
		t.Error("stripe-go accepts the signature with another secret")
	}
	if req.Header.Get("Webhook-Signature") != "" {
		t.Error("the stripe scheme also sent webhook-signature")
	}
}

// TestHMACSHA256HexScheme: go-github's ValidateSignature accepts the
// signature, as a GitHub webhook receiver would.
func TestHMACSHA256HexScheme(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	ep := s.createEndpoint("acme", obj{"url": rcv.URL, "signature": obj{"scheme": "hmac-sha256-hex", "header": "X-Hub-Signature-256"}})
	s.publish("acme", obj{"type": "push", "data": obj{"ref": "main"}})
	req := rcv.Wait(1)[0]
	sig := req.Header.Get("X-Hub-Signature-256")
	if !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("X-Hub-Signature-256 = %q, want sha256=…", sig)
	}
	if err := github.ValidateSignature(sig, req.Body, []byte(ep.Secret)); err != nil {
		t.Errorf("go-github rejects the signature: %v", err)
	}
	if err := github.ValidateSignature(sig, append(req.Body, ' '), []byte(ep.Secret)); err == nil {
		t.Error("go-github accepts the signature for another body")
	}
}
