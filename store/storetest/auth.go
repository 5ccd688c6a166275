package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// authTests are the conformance tests of hookd.AuthStore.
var authTests = []struct {
	name string
	fn   func(t *testing.T, f *fixture)
}{
	{"Auth/ClientRoundTrip", testOAuthClientRoundTrip},
	{"Auth/ClientList", testOAuthClientList},
	{"Auth/ClientDeleteTakesTokens", testOAuthClientDeleteTakesTokens},
	{"Auth/TokenRoundTrip", testOAuthTokenRoundTrip},
	{"Auth/TokenDelete", testOAuthTokenDelete},
	{"Auth/TokenDeleteOnce", testOAuthTokenDeleteOnce},
	{"Auth/TokenPurge", testOAuthTokenPurge},
	{"Auth/ServerSecret", testServerSecret},
}

func newOAuthClient(i int, t time.Time) *hookd.OAuthClient {
	_, hash := hookd.NewOAuthSecret(hookd.OAuthClientSecretPrefix)
	c := &hookd.OAuthClient{
		ID:           hookd.NewID(hookd.PrefixOAuthClient),
		Name:         fmt.Sprintf("client %d", i),
		Scopes:       []string{hookd.ScopeEventsWrite, hookd.ScopeDeliveriesRead},
		RedirectURIs: []string{"https://app.example.com/cb", "http://127.0.0.1:9999/cb"},
		SecretHash:   hash,
		CreatedAt:    t,
	}
	if i%2 == 0 {
		c.Tenant = "acme"
		c.RedirectURIs = nil
		c.Scopes = []string{hookd.ScopeAdmin}
	}
	return c
}

// sameClient compares clients; a nil list comes back empty.
func sameClient(t *testing.T, got, want *hookd.OAuthClient) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	if !bytes.Equal(got.SecretHash, want.SecretHash) {
		t.Errorf("secret hash %x, want %x", got.SecretHash, want.SecretHash)
	}
	g, w := *got, *want
	g.CreatedAt, g.SecretHash, w.CreatedAt, w.SecretHash = time.Time{}, nil, time.Time{}, nil
	if w.RedirectURIs == nil {
		w.RedirectURIs = []string{}
	}
	deepEqual(t, "oauth client", &g, &w)
}

func testOAuthClientRoundTrip(t *testing.T, f *fixture) {
	for i := range 2 {
		c := newOAuthClient(i, at(time.Duration(i)*time.Second))
		must(t, f.s.OAuthClientInsert(f.ctx, c))
		got, err := f.s.OAuthClientGet(f.ctx, c.ID)
		must(t, err)
		sameClient(t, got, c)
		dup := *c
		wantCode(t, f.s.OAuthClientInsert(f.ctx, &dup), hookd.EDUPLICATE)
	}
	_, err := f.s.OAuthClientGet(f.ctx, hookd.NewID(hookd.PrefixOAuthClient))
	wantCode(t, err, hookd.ENOTFOUND)
}

func testOAuthClientList(t *testing.T, f *fixture) {
	var want []string
	clients := map[string]*hookd.OAuthClient{}
	for i := range 11 {
		c := newOAuthClient(i, at(time.Duration(i%4)*time.Second)) // equal times too
		must(t, f.s.OAuthClientInsert(f.ctx, c))
		clients[c.ID] = c
		want = append(want, c.ID)
	}
	// Only this test's clients count: a store may keep other subtests'
	// rows of tables the harness does not empty.
	walkMine := func(limit int) []*hookd.OAuthClient {
		t.Helper()
		var mine []*hookd.OAuthClient
		cursor := ""
		for i := 0; ; i++ {
			if i > 10000 {
				t.Fatal("pagination does not end")
			}
			rows, next, err := f.s.OAuthClientList(f.ctx, hookd.ListParams{Limit: limit, Cursor: cursor})
			must(t, err)
			if len(rows) > limit || len(rows) == 0 && next != "" {
				t.Fatalf("page %d has %d rows (limit %d) and next cursor %q", i, len(rows), limit, next)
			}
			for _, c := range rows {
				if clients[c.ID] != nil {
					mine = append(mine, c)
				}
			}
			if next == "" {
				return mine
			}
			cursor = next
		}
	}
	clientID := func(c *hookd.OAuthClient) string { return c.ID }
	got := walkMine(3)
	if len(got) != len(want) {
		t.Fatalf("listed %d clients, want %d", len(got), len(want))
	}
	sameSet(t, "clients", ids(got, clientID), want)
	for i, c := range got {
		sameClient(t, c, clients[c.ID])
		if i > 0 && c.CreatedAt.After(got[i-1].CreatedAt) {
			t.Fatalf("clients not newest first: %v after %v", c.CreatedAt, got[i-1].CreatedAt)
		}
	}
	// Every page size walks the same order.
	sameIDs(t, "pages of 1 and of 100", ids(walkMine(1), clientID), ids(walkMine(100), clientID))
	_, _, err := f.s.OAuthClientList(f.ctx, hookd.ListParams{Cursor: "!"})
	wantCursorError(t, err)
	// A cursor of another list is not one of this list.
	_, next, err := f.s.APIKeyList(f.ctx, hookd.ListParams{Limit: 1})
	must(t, err)
	if next != "" {
		_, _, err = f.s.OAuthClientList(f.ctx, hookd.ListParams{Cursor: next})
		wantCursorError(t, err)
	}
}

// token builds an access token with a refresh token for client c, issued
// at t.
func newOAuthToken(c *hookd.OAuthClient, t time.Time) (tok *hookd.OAuthToken, access, refresh string) {
	access, ah := hookd.NewOAuthSecret(hookd.OAuthAccessPrefix)
	refresh, rh := hookd.NewOAuthSecret(hookd.OAuthRefreshPrefix)
	return &hookd.OAuthToken{
		ID:               hookd.NewID(hookd.PrefixOAuthToken),
		ClientID:         c.ID,
		Tenant:           c.Tenant,
		Scopes:           []string{hookd.ScopeEventsWrite},
		Subject:          "key_1",
		AccessHash:       ah,
		RefreshHash:      rh,
		AccessExpiresAt:  t.Add(time.Hour),
		RefreshExpiresAt: t.Add(30 * 24 * time.Hour),
		CreatedAt:        t,
	}, access, refresh
}

func newOAuthCode(c *hookd.OAuthClient, t time.Time) (*hookd.OAuthToken, string) {
	code, ch := hookd.NewOAuthSecret(hookd.OAuthCodePrefix)
	return &hookd.OAuthToken{
		ID:                  hookd.NewID(hookd.PrefixOAuthToken),
		ClientID:            c.ID,
		Tenant:              c.Tenant,
		Scopes:              []string{hookd.ScopeEventsWrite, hookd.ScopeDeliveriesRead},
		Subject:             "key_2",
		RedirectURI:         "https://app.example.com/cb",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		CodeHash:            ch,
		CodeExpiresAt:       t.Add(10 * time.Minute),
		CreatedAt:           t,
	}, code
}

func sameToken(t *testing.T, got, want *hookd.OAuthToken) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	for _, k := range []hookd.OAuthTokenKind{hookd.OAuthCode, hookd.OAuthAccess, hookd.OAuthRefresh} {
		sameTime(t, fmt.Sprintf("ExpiresAt(%d)", k), got.ExpiresAt(k), want.ExpiresAt(k))
		if !bytes.Equal(got.Hash(k), want.Hash(k)) || (got.Hash(k) == nil) != (want.Hash(k) == nil) {
			t.Errorf("Hash(%d) = %x, want %x", k, got.Hash(k), want.Hash(k))
		}
	}
	g, w := *got, *want
	for _, v := range []*hookd.OAuthToken{&g, &w} {
		v.CreatedAt, v.CodeExpiresAt, v.AccessExpiresAt, v.RefreshExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		v.CodeHash, v.AccessHash, v.RefreshHash = nil, nil, nil
	}
	deepEqual(t, "oauth token", &g, &w)
}

func testOAuthTokenRoundTrip(t *testing.T, f *fixture) {
	c := newOAuthClient(1, at(0))
	must(t, f.s.OAuthClientInsert(f.ctx, c))
	tok, access, refresh := newOAuthToken(c, at(time.Second))
	must(t, f.s.OAuthTokenInsert(f.ctx, tok))
	code, secret := newOAuthCode(c, at(2*time.Second))
	must(t, f.s.OAuthTokenInsert(f.ctx, code))

	for _, tc := range []struct {
		kind   hookd.OAuthTokenKind
		secret string
		want   *hookd.OAuthToken
	}{
		{hookd.OAuthAccess, access, tok},
		{hookd.OAuthRefresh, refresh, tok},
		{hookd.OAuthCode, secret, code},
	} {
		got, err := f.s.OAuthTokenGet(f.ctx, tc.kind, hookd.HashOAuthSecret(tc.secret))
		must(t, err)
		sameToken(t, got, tc.want)
	}
	// A hash looked up as another kind, an unknown hash, and no hash at
	// all find nothing.
	_, err := f.s.OAuthTokenGet(f.ctx, hookd.OAuthRefresh, hookd.HashOAuthSecret(access))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(secret))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret("hkat_unknown"))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthCode, nil)
	wantCode(t, err, hookd.ENOTFOUND)

	// Expired tokens are still returned: expiry is the caller's business.
	old, oldAccess, _ := newOAuthToken(c, at(-48*time.Hour))
	old.RefreshHash, old.RefreshExpiresAt = nil, time.Time{}
	must(t, f.s.OAuthTokenInsert(f.ctx, old))
	got, err := f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(oldAccess))
	must(t, err)
	sameToken(t, got, old)

	// A hash is unique whatever the row.
	dup, _, _ := newOAuthToken(c, at(0))
	dup.AccessHash = tok.AccessHash
	wantCode(t, f.s.OAuthTokenInsert(f.ctx, dup), hookd.EDUPLICATE)
	again := *tok
	again.AccessHash, again.RefreshHash = hookd.HashOAuthSecret("a"), hookd.HashOAuthSecret("b")
	wantCode(t, f.s.OAuthTokenInsert(f.ctx, &again), hookd.EDUPLICATE) // same ID
}

func testOAuthTokenDelete(t *testing.T, f *fixture) {
	c := newOAuthClient(1, at(0))
	must(t, f.s.OAuthClientInsert(f.ctx, c))
	tok, access, refresh := newOAuthToken(c, at(0))
	must(t, f.s.OAuthTokenInsert(f.ctx, tok))
	other, otherAccess, _ := newOAuthToken(c, at(0))
	must(t, f.s.OAuthTokenInsert(f.ctx, other))

	// Deleting by the refresh token takes the access token with it.
	got, err := f.s.OAuthTokenDelete(f.ctx, hookd.OAuthRefresh, hookd.HashOAuthSecret(refresh))
	must(t, err)
	sameToken(t, got, tok)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(access))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenDelete(f.ctx, hookd.OAuthRefresh, hookd.HashOAuthSecret(refresh))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenDelete(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(access))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenDelete(f.ctx, hookd.OAuthAccess, nil)
	wantCode(t, err, hookd.ENOTFOUND)

	// The other token is untouched, and goes by its access token.
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(otherAccess))
	must(t, err)
	got, err = f.s.OAuthTokenDelete(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(otherAccess))
	must(t, err)
	sameToken(t, got, other)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthRefresh, other.RefreshHash)
	wantCode(t, err, hookd.ENOTFOUND)
}

// testOAuthTokenDeleteOnce checks what makes a code single-use: of many
// concurrent deletes of one code, exactly one gets it.
func testOAuthTokenDeleteOnce(t *testing.T, f *fixture) {
	c := newOAuthClient(1, at(0))
	must(t, f.s.OAuthClientInsert(f.ctx, c))
	for range 5 {
		code, secret := newOAuthCode(c, at(0))
		must(t, f.s.OAuthTokenInsert(f.ctx, code))
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			won      int
			failures []error
		)
		for range 8 {
			wg.Go(func() {
				_, err := f.s.OAuthTokenDelete(f.ctx, hookd.OAuthCode, hookd.HashOAuthSecret(secret))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case hookd.ErrorCode(err) != hookd.ENOTFOUND:
					failures = append(failures, err)
				}
			})
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("concurrent deletes failed: %v", failures)
		}
		if won != 1 {
			t.Fatalf("%d of 8 concurrent deletes of one code succeeded, want 1", won)
		}
	}
}

func testOAuthClientDeleteTakesTokens(t *testing.T, f *fixture) {
	gone, kept := newOAuthClient(1, at(0)), newOAuthClient(2, at(0))
	must(t, f.s.OAuthClientInsert(f.ctx, gone))
	must(t, f.s.OAuthClientInsert(f.ctx, kept))
	tok, access, _ := newOAuthToken(gone, at(0))
	must(t, f.s.OAuthTokenInsert(f.ctx, tok))
	code, secret := newOAuthCode(gone, at(0))
	must(t, f.s.OAuthTokenInsert(f.ctx, code))
	keptTok, keptAccess, _ := newOAuthToken(kept, at(0))
	must(t, f.s.OAuthTokenInsert(f.ctx, keptTok))

	must(t, f.s.OAuthClientDelete(f.ctx, gone.ID))
	wantCode(t, f.s.OAuthClientDelete(f.ctx, gone.ID), hookd.ENOTFOUND)
	_, err := f.s.OAuthClientGet(f.ctx, gone.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(access))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthCode, hookd.HashOAuthSecret(secret))
	wantCode(t, err, hookd.ENOTFOUND)
	got, err := f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(keptAccess))
	must(t, err)
	sameToken(t, got, keptTok)
	_, err = f.s.OAuthClientGet(f.ctx, kept.ID)
	must(t, err)
}

func testOAuthTokenPurge(t *testing.T, f *fixture) {
	c := newOAuthClient(1, at(0))
	must(t, f.s.OAuthClientInsert(f.ctx, c))
	// Far before anything other subtests store, so that their tokens do
	// not count here.
	cutoff := at(-1000 * 24 * time.Hour)
	var expired, live []string
	for i := range 7 {
		// Access expired long ago, refresh only just before the cutoff.
		tok, access, _ := newOAuthToken(c, cutoff.Add(-40*24*time.Hour))
		tok.RefreshExpiresAt = cutoff.Add(-time.Duration(i+1) * time.Minute)
		must(t, f.s.OAuthTokenInsert(f.ctx, tok))
		expired = append(expired, access)
	}
	for i := range 3 {
		// The access token expired, but the refresh token lives on.
		tok, access, _ := newOAuthToken(c, cutoff.Add(-2*time.Hour))
		tok.RefreshExpiresAt = cutoff.Add(time.Duration(i+1) * time.Minute)
		must(t, f.s.OAuthTokenInsert(f.ctx, tok))
		live = append(live, access)
	}
	code, secret := newOAuthCode(c, cutoff.Add(-5*time.Minute)) // expires 5 minutes after the cutoff
	must(t, f.s.OAuthTokenInsert(f.ctx, code))

	n, err := f.s.OAuthTokenPurge(f.ctx, cutoff, 4)
	must(t, err)
	if n != 4 {
		t.Fatalf("first purge deleted %d, want 4 (the batch)", n)
	}
	total := n
	for n > 0 {
		n, err = f.s.OAuthTokenPurge(f.ctx, cutoff, 4)
		must(t, err)
		total += n
	}
	if total != len(expired) {
		t.Fatalf("purged %d tokens, want %d", total, len(expired))
	}
	for _, a := range expired {
		_, err := f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(a))
		wantCode(t, err, hookd.ENOTFOUND)
	}
	for _, a := range live {
		_, err := f.s.OAuthTokenGet(f.ctx, hookd.OAuthAccess, hookd.HashOAuthSecret(a))
		must(t, err)
	}
	_, err = f.s.OAuthTokenGet(f.ctx, hookd.OAuthCode, hookd.HashOAuthSecret(secret))
	must(t, err)
	n, err = f.s.OAuthTokenPurge(f.ctx, cutoff, 0)
	must(t, err)
	if n != 0 {
		t.Fatalf("a purge with batch 0 deleted %d", n)
	}
}

func testServerSecret(t *testing.T, f *fixture) {
	name := "ui-signing-key-" + f.t.Name() + time.Now().Format(time.RFC3339Nano)
	first := []byte("first value \x00\xff of the secret")
	got, err := f.s.ServerSecretGetOrCreate(f.ctx, name, first)
	must(t, err)
	if !bytes.Equal(got, first) {
		t.Fatalf("first call returned %q, want the new value %q", got, first)
	}
	got, err = f.s.ServerSecretGetOrCreate(f.ctx, name, []byte("second"))
	must(t, err)
	if !bytes.Equal(got, first) {
		t.Fatalf("second call returned %q, want the stored %q", got, first)
	}
	_, err = f.s.ServerSecretGetOrCreate(f.ctx, "other", nil)
	wantCode(t, err, hookd.EINVALID)

	// Racing callers with different values all get one of them, the same.
	const n = 8
	vals := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			vals[i], errs[i] = f.s.ServerSecretGetOrCreate(f.ctx, name+"-raced", fmt.Appendf(nil, "value %d", i))
		})
	}
	wg.Wait()
	for i := range n {
		must(t, errs[i])
		if !bytes.Equal(vals[i], vals[0]) {
			t.Fatalf("racing callers got %q and %q", vals[0], vals[i])
		}
	}
	if !bytes.HasPrefix(vals[0], []byte("value ")) {
		t.Fatalf("raced secret %q is none of the values given", vals[0])
	}
	got, err = f.s.ServerSecretGetOrCreate(f.ctx, name, []byte("third"))
	must(t, err)
	if !bytes.Equal(got, first) {
		t.Fatalf("after other names, got %q, want %q", got, first)
	}
}
