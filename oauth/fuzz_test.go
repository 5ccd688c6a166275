package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/sqlite"
)

func FuzzNarrowScope(f *testing.F) {
	for _, s := range []string{"", "admin", "events:write deliveries:read", "  events:write  ", "events:write\tx", "admin admin", "endpoints:read endpoints:write"} {
		f.Add("events:write deliveries:read", s)
		f.Add("admin", s)
	}
	f.Fuzz(func(t *testing.T, haveStr, requested string) {
		have := strings.Fields(haveStr)
		got, ok := narrowScope(have, requested)
		if !ok {
			if got != "" {
				t.Fatalf("refused with %q", got)
			}
			return
		}
		scopes := strings.Split(got, " ")
		if !slices.IsSorted(scopes) || len(slices.Compact(slices.Clone(scopes))) != len(scopes) {
			t.Fatalf("%q is not sorted and unique", got)
		}
		p := hookd.Principal{Scopes: have}
		for _, s := range scopes {
			if !hookd.ValidScope(s) || !p.Can(s) {
				t.Fatalf("granted %q holding %v", s, have)
			}
		}
		// Narrowing again to the result changes nothing.
		if again, ok := narrowScope(scopes, got); !ok || again != got {
			t.Fatalf("narrowScope(%q) = %q, %v", got, again, ok)
		}
	})
}

// FuzzTokenEndpoint sends arbitrary bodies, content types and Basic
// credentials to the token endpoint: every answer is 200 with a token or
// an RFC 6749 error document with a 4xx, never a 500.
func FuzzTokenEndpoint(f *testing.F) {
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "hookd.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	secret, hash := hookd.NewOAuthSecret(hookd.OAuthClientSecretPrefix)
	c := &hookd.OAuthClient{ID: "oac_fuzz", Name: "fuzz", Scopes: []string{hookd.ScopeEventsWrite}, RedirectURIs: []string{"https://a.example/cb"}, SecretHash: hash, CreatedAt: time.Now()}
	if err := st.OAuthClientInsert(context.Background(), c); err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Store: st})
	if err != nil {
		f.Fatal(err)
	}
	ct := "application/x-www-form-urlencoded"
	for _, body := range []string{
		"grant_type=client_credentials", "grant_type=client_credentials&scope=events:write", "grant_type=client_credentials&scope=admin",
		"grant_type=refresh_token&refresh_token=hkrt_x", "grant_type=authorization_code&code=hkac_x&redirect_uri=https://a.example/cb&code_verifier=" + strings.Repeat("a", 43),
		"grant_type=password&username=a&password=b", "grant_type=client_credentials&grant_type=x", "%zz", "grant_type=client_credentials&client_id=oac_fuzz&client_secret=" + secret,
	} {
		f.Add(body, ct, "oac_fuzz", secret, true)
		f.Add(body, ct, "oac_fuzz", "wrong", true)
		f.Add(body, "text/plain", "", "", false)
	}
	codes := []string{"invalid_request", "invalid_client", "invalid_grant", "invalid_scope", "unsupported_grant_type", "unauthorized_client"}
	f.Fuzz(func(t *testing.T, body, contentType, id, pass string, basic bool) {
		r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if basic {
			r.SetBasicAuth(id, pass)
		}
		w := httptest.NewRecorder()
		s.ServeToken(w, r)
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("status %d, body %q is not JSON", w.Code, w.Body)
		}
		switch {
		case w.Code == http.StatusOK:
			if tok, _ := doc["access_token"].(string); !strings.HasPrefix(tok, hookd.OAuthAccessPrefix) {
				t.Fatalf("200 without a token: %v", doc)
			}
		case w.Code == 400 || w.Code == 401:
			if code, _ := doc["error"].(string); !slices.Contains(codes, code) {
				t.Fatalf("status %d with error %v", w.Code, doc)
			}
		default:
			t.Fatalf("status %d: %v", w.Code, doc)
		}
	})
}
