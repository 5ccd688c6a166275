package e2e

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// trustFile writes the receiver's certificate, taken from a handshake, to
// a PEM file for SSL_CERT_FILE: the only way to make a separate process
// trust it.
func trustFile(t *testing.T, r *hookdtest.Receiver) string {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	for _, c := range conn.ConnectionState().PeerCertificates {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSucceeded delivers over plain HTTP and over TLS to a receiver whose
// certificate hookd trusts, and checks what the receiver got against the
// contract: method, headers, body and a signature that the Standard
// Webhooks reference library verifies.
func TestSucceeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"https", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg serverConfig
			rcv := hookdtest.New(t, hookdtest.Options{TLS: tc.tls})
			if tc.tls {
				cfg.Env = []string{"SSL_CERT_FILE=" + trustFile(t, rcv)}
			}
			s := startServer(t, cfg)
			rcv.SetDefault(hookdtest.Response{Status: http.StatusNoContent})
			ep := s.createEndpoint("acme", obj{
				"url":     rcv.URL + "/hooks?src=hookd",
				"headers": obj{"X-Team": "erp"},
			})
			ev := s.publish("acme", obj{"type": "order.created", "data": obj{"amount": 4200}})
			if ev.DeliveryCount != 1 {
				t.Fatalf("delivery_count = %d, want 1", ev.DeliveryCount)
			}

			req := rcv.Wait(1)[0]
			if req.Method != "POST" || req.Path != "/hooks" || req.RawQuery != "src=hookd" {
				t.Errorf("got %s %s?%s, want POST /hooks?src=hookd", req.Method, req.Path, req.RawQuery)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/json",
				"User-Agent":   "hookd/" + hookd.Version,
				"X-Team":       "erp",
				"Webhook-Id":   ev.ID,
			} {
				if got := req.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			wh, err := standardwebhooks.NewWebhook(ep.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(req.Body, req.Header); err != nil {
				t.Errorf("standard-webhooks library rejects the signature: %v", err)
			}
			var body struct {
				ID        string          `json:"id"`
				Type      string          `json:"type"`
				Timestamp time.Time       `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatalf("body %s: %v", req.Body, err)
			}
			if body.ID != ev.ID || body.Type != "order.created" || string(body.Data) != `{"amount":4200}` || body.Timestamp.IsZero() {
				t.Errorf("body = %s", req.Body)
			}

			d := s.waitDelivery("acme", ev.ID, hookd.StateSucceeded, 10*time.Second)
			atts := s.attempts("acme", d.ID)
			if len(atts) != 1 {
				t.Fatalf("%d attempts, want 1", len(atts))
			}
			a := atts[0]
			if a.Outcome != hookd.OutcomeSucceeded || a.StatusCode != http.StatusNoContent || a.Number != 1 || !a.NextAttemptAt.IsZero() {
				t.Errorf("attempt = %+v, want succeeded with 204, number 1, no next attempt", a)
			}
		})
	}
}

// TestFailureOutcomes covers every failing row of the outcome table; each
// first attempt must be classified and recorded, and the delivery must stay
// pending for its retry.
func TestFailureOutcomes(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})

	t.Run("http_error 4xx", func(t *testing.T) {
		t.Parallel()
		rcv := hookdtest.NewReceiver(t)
		rcv.SetDefault(hookdtest.Response{Status: http.StatusBadRequest, Body: "no such order"})
		a := s.firstAttempt(t, "t4xx", obj{"url": rcv.URL})
		if a.Outcome != hookd.OutcomeHTTPError || a.StatusCode != 400 || a.Response != "no such order" {
			t.Errorf("attempt = %+v, want http_error 400 with the body", a)
		}
	})

	t.Run("http_error 5xx keeps 4 KiB", func(t *testing.T) {
		t.Parallel()
		rcv := hookdtest.NewReceiver(t)
		big := strings.Repeat("x", 3*hookd.MaxResponseExcerpt)
		rcv.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError, Body: big})
		a := s.firstAttempt(t, "t5xx", obj{"url": rcv.URL})
		if a.Outcome != hookd.OutcomeHTTPError || a.StatusCode != 500 {
			t.Errorf("attempt = %+v, want http_error 500", a)
		}
		if len(a.Response) != hookd.MaxResponseExcerpt {
			t.Errorf("response excerpt is %d bytes, want %d", len(a.Response), hookd.MaxResponseExcerpt)
		}
	})

	t.Run("redirect not followed", func(t *testing.T) {
		t.Parallel()
		target := hookdtest.NewReceiver(t)
		rcv := hookdtest.NewReceiver(t)
		rcv.SetDefault(hookdtest.Response{Status: http.StatusFound, Header: http.Header{"Location": {target.URL + "/elsewhere"}}})
		a := s.firstAttempt(t, "t3xx", obj{"url": rcv.URL})
		if a.Outcome != hookd.OutcomeRedirect || a.StatusCode != 302 {
			t.Errorf("attempt = %+v, want redirect 302", a)
		}
		// The attempt is recorded after its response; had the redirect
		// been followed, the target would have been asked by now.
		if n := target.Count(); n != 0 {
			t.Errorf("the redirect target got %d requests, want 0", n)
		}
	})

	t.Run("connect_error", func(t *testing.T) {
		t.Parallel()
		a := s.firstAttempt(t, "tconn", obj{"url": hookdtest.ClosedURL(t)})
		if a.Outcome != hookd.OutcomeConnectError || a.StatusCode != 0 || a.Error == "" {
			t.Errorf("attempt = %+v, want connect_error with an error message", a)
		}
	})

	t.Run("tls_error", func(t *testing.T) {
		t.Parallel()
		rcv := hookdtest.NewUntrustedTLSReceiver(t)
		a := s.firstAttempt(t, "ttls", obj{"url": rcv.URL})
		if a.Outcome != hookd.OutcomeTLSError || a.Error == "" {
			t.Errorf("attempt = %+v, want tls_error", a)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		rcv := hookdtest.NewReceiver(t)
		rcv.SetDefault(hookdtest.Response{Hang: true})
		a := s.firstAttempt(t, "ttimeout", obj{"url": rcv.URL, "timeout": "1s"})
		if a.Outcome != hookd.OutcomeTimeout {
			t.Errorf("attempt = %+v, want timeout", a)
		}
		if a.Duration < 900 || a.Duration > 5000 {
			t.Errorf("timed out after %dms, want about 1000", a.Duration)
		}
		if rcv.Count() != 1 {
			t.Errorf("receiver got %d requests, want 1", rcv.Count())
		}
	})

	t.Run("retried with next_attempt_at", func(t *testing.T) {
		t.Parallel()
		before := time.Now()
		a := s.firstAttempt(t, "tnext", obj{"url": hookdtest.ClosedURL(t)})
		d := s.deliveryOf("tnext", a.EventID)
		if d.State != hookd.StatePending || d.Attempts != 1 {
			t.Errorf("delivery = %+v, want pending after 1 attempt", d)
		}
		if a.NextAttemptAt.Before(before.Add(59*time.Minute)) || a.NextAttemptAt.After(time.Now().Add(61*time.Minute)) {
			t.Errorf("next_attempt_at = %v, want an hour after the attempt", a.NextAttemptAt)
		}
	})
}

// TestBlocked runs a server that allows no private network: deliveries to a
// loopback receiver are blocked after resolution, and nothing reaches it.
func TestBlocked(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{NoAllowLoopback: true})
	rcv := hookdtest.NewReceiver(t)
	for i, host := range []string{rcv.URL, strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1)} {
		a := s.firstAttempt(t, fmt.Sprintf("blocked%d", i), obj{"url": host})
		if a.Outcome != hookd.OutcomeBlocked {
			t.Errorf("%s: attempt = %+v, want blocked", host, a)
		}
	}
	if n := rcv.Count(); n != 0 {
		t.Errorf("the receiver got %d requests, want 0", n)
	}
}
